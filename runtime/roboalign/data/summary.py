"""What a data set holds, in numbers: `roboalign dataset info`.

Works on any source iter_episodes accepts; a LeRobotDataset folder is summarised from its
metadata and parquet alone (no video decoding).
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class DatasetSummary:
    path: str
    layout: str                      # "lerobot v3.0", "episodes", ...
    episodes: int
    frames: int
    fps: float | None                # None when episodes disagree
    features: dict[str, dict]        # name -> {dtype, shape}
    tasks: dict[str, int]            # instruction -> episodes
    successful: int | None           # None when the source does not record success
    partial: int
    durations_s: dict[str, float]    # min / mean / max / total

    @property
    def success_rate(self) -> float | None:
        return None if self.successful is None or not self.episodes else self.successful / self.episodes

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "success_rate": self.success_rate}

    def lines(self) -> list[str]:
        rate = "not recorded" if self.success_rate is None else f"{self.successful}/{self.episodes} ({self.success_rate:.0%})"
        d = self.durations_s
        out = [f"{self.path} ({self.layout})",
               f"  episodes   {self.episodes}" + (f" ({self.partial} partial)" if self.partial else ""),
               f"  frames     {self.frames}" + (f" at {self.fps:g} fps" if self.fps else " (mixed rates)"),
               f"  duration   {d['total']:.1f} s in all; per episode min {d['min']:.1f} / mean {d['mean']:.1f} / max {d['max']:.1f} s",
               f"  success    {rate}",
               "  features"]
        out += [f"    {k:<32} {v['dtype']:<8} {v['shape']}" for k, v in self.features.items()]
        out.append(f"  tasks      {len(self.tasks)}")
        out += [f"    {n:>4} x {t!r}" for t, n in sorted(self.tasks.items(), key=lambda kv: -kv[1])]
        return out


def _durations(lengths: list[int], dts: list[float]) -> dict[str, float]:
    secs = np.array([n * dt for n, dt in zip(lengths, dts)]) if lengths else np.zeros(1)
    return {"min": float(secs.min()), "mean": float(secs.mean()), "max": float(secs.max()), "total": float(secs.sum())}


def _lerobot_summary(root: Path) -> DatasetSummary:
    import pyarrow.parquet as pq

    from roboalign.data.lerobot import read_episodes_meta, read_info, read_tasks

    info = read_info(root)
    fps = float(info["fps"])
    tasks = read_tasks(root)
    meta = read_episodes_meta(root)
    if meta:
        lengths = [int(m["length"]) for m in meta.values()]
        task_count = Counter(t for m in meta.values() for t in (m.get("tasks") or []))
        flags = [m.get("success") for m in meta.values()]
    else:  # v2.x: count from the frames
        ep = np.concatenate([pq.read_table(f, columns=["episode_index"]).column(0).to_numpy()
                             for f in sorted((root / "data").rglob("*.parquet"))])
        lengths = list(np.bincount(ep)[np.unique(ep)])
        task_count, flags = Counter({t: 0 for t in tasks.values()}), [None]
    successful = None if any(f is None for f in flags) else sum(bool(f) for f in flags)
    features = {k: {"dtype": v["dtype"], "shape": list(v["shape"])} for k, v in info["features"].items()}
    return DatasetSummary(str(root), f"lerobot {info.get('codebase_version', '?')}", len(lengths), int(sum(lengths)),
                          fps, features, dict(task_count), successful, 0, _durations(lengths, [1 / fps] * len(lengths)))


def _npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Array shapes in an .npz from the members' headers (nothing decompressed beyond them)."""
    import zipfile

    shapes = {}
    with zipfile.ZipFile(path) as z:
        for member in z.namelist():
            with z.open(member) as f:
                major, _minor = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _order, _dtype = read(f)
            shapes[member.removesuffix(".npy")] = tuple(shape)
    return shapes


def _project_summary(path: Path, dirs: list[Path]) -> DatasetSummary:
    """Episode folders, from their episode.json files (and one arrays.npz header for the shapes)."""
    metas = [json.loads((d / "episode.json").read_text()) for d in dirs]
    shapes = _npz_shapes(dirs[0] / "arrays.npz")
    features = {"joint_positions": {"dtype": "float64", "shape": list(shapes["joint_positions"][1:])},
                "actions": {"dtype": "float64", "shape": list(shapes["actions"][1:])}}
    features.update({f"images.{c}": {"dtype": "uint8", "shape": list(shapes[f"image_{c}"][1:])}
                     for c in metas[0]["cameras"]})
    lengths, dts = [int(m["length"]) for m in metas], [float(m["dt"]) for m in metas]
    rates = {round(1 / dt, 6) for dt in dts}
    return DatasetSummary(str(path), "episodes", len(metas), int(sum(lengths)), rates.pop() if len(rates) == 1 else None,
                          features, dict(Counter(m["instruction"] for m in metas)),
                          sum(bool(m["success"]) for m in metas),
                          sum(bool((m.get("metadata") or {}).get("partial")) for m in metas), _durations(lengths, dts))


def summarize(path: str | Path) -> DatasetSummary:
    from roboalign.data.lerobot import is_lerobot_dir
    from roboalign.data.sources import find_episode_dirs, iter_episodes

    if is_lerobot_dir(path):
        return _lerobot_summary(Path(path))
    dirs = find_episode_dirs(path)
    if dirs:
        return _project_summary(Path(path), dirs)
    lengths, dts, tasks, ok, partial = [], [], Counter(), 0, 0
    features: dict[str, dict] = {}
    for _name, ep in iter_episodes(path, include_partial=True):
        lengths.append(len(ep))
        dts.append(ep.dt)
        tasks[ep.instruction] += 1
        ok += int(ep.success)
        partial += int(bool(ep.metadata.get("partial")))
        features.setdefault("joint_positions", {"dtype": "float64", "shape": [ep.joint_positions.shape[1]]})
        features.setdefault("actions", {"dtype": "float64", "shape": [ep.actions.shape[1]]})
        for cam, img in ep.images.items():
            features.setdefault(f"images.{cam}", {"dtype": "uint8", "shape": list(img.shape[1:])})
    rates = {round(1 / dt, 6) for dt in dts}
    return DatasetSummary(str(path), "episodes", len(lengths), int(sum(lengths)), rates.pop() if len(rates) == 1 else None,
                          features, dict(tasks), ok, partial, _durations(lengths, dts))
