#!/usr/bin/env python
"""Does the `lerobot` package load our LeRobot v3 export with the values our reader gives?

    make lerobot-env                       # lerobot 0.4.4 in .venv-lerobot (its own torch)
    roboalign dataset export demos --to lerobot --out /tmp/demos_v3
    python scripts/check_lerobot_export.py /tmp/demos_v3 [--source demos] [--reference]

Runs in two interpreters: this one (the project's, with roboalign) reads the export with
roboalign.data.lerobot; a child in the lerobot venv (--lerobot-python, default .venv-lerobot or
/work/venvs/lerobot) loads it with `lerobot.datasets.lerobot_dataset.LeRobotDataset(repo_id,
root=...)`, reads every frame (ds[i]) and hands back the arrays. Compared frame by frame:
observation.state, action, timestamp, frame/episode/dataset index and the task string must be
identical; camera frames are compared as uint8 (LeRobot's 0..1 floats x 255) against our reader
and, with --source, against the frames before encoding (the codec's error).
--reference also has LeRobot write the same episodes with its own writer (LeRobotDataset.create /
add_frame / save_episode) and compares the two layouts: info.json, parquet schemas, stats keys.
Prints one JSON object; exit 0 when everything that must be identical is.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_CANDIDATES = (ROOT / ".venv-lerobot" / "bin" / "python", Path("/work/venvs/lerobot/bin/python"))


# ---------------------------------------------------------------- lerobot side (no roboalign here)
def _lerobot_side(export: Path, out: Path, backend: str | None, reference: Path | None) -> None:
    import numpy as np
    from lerobot import __version__ as lerobot_version
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    note = None
    if backend is None:  # LeRobot picks torchcodec when installed, which needs FFmpeg's shared libraries
        try:
            import torchcodec.decoders  # noqa: F401
        except Exception as exc:  # torchcodec raises RuntimeError listing each FFmpeg it tried
            backend, note = "pyav", f"torchcodec unusable here ({type(exc).__name__}): decoded with pyav"
    ds = LeRobotDataset("roboalign/check", root=export, video_backend=backend)
    cams = list(ds.meta.video_keys) + list(ds.meta.image_keys)
    n = len(ds)
    arrays = {k: [] for k in ("state", "action", "timestamp", "frame_index", "episode_index", "index")}
    images = {c: [] for c in cams}
    tasks = []
    for i in range(n):
        item = ds[i]
        arrays["state"].append(item["observation.state"].numpy())
        arrays["action"].append(item["action"].numpy())
        for k in ("timestamp", "frame_index", "episode_index", "index"):
            arrays[k].append(item[k].numpy())
        tasks.append(item["task"])
        for c in cams:  # float C,H,W in 0..1 -> uint8 H,W,C
            images[c].append(np.round(item[c].numpy().transpose(1, 2, 0) * 255).astype(np.uint8))
    np.savez(out, **{k: np.stack(v) for k, v in arrays.items()}, **{f"img:{c}": np.stack(v) for c, v in images.items()})
    side = {"lerobot_version": lerobot_version, "video_backend": ds.video_backend, "backend_note": note, "frames": n,
            "episodes": ds.meta.total_episodes, "fps": ds.fps, "cameras": cams, "tasks": tasks}
    if reference is not None:
        side["reference"] = _reference(ds, images, reference)
    out.with_suffix(".json").write_text(json.dumps(side))


def _reference(ds, images: dict, where: Path) -> dict:
    """Write the same frames with LeRobot's own writer; compare its layout with the export's."""
    import numpy as np
    import pyarrow.parquet as pq
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.utils import DEFAULT_FEATURES

    features = {k: {kk: vv for kk, vv in v.items() if kk != "info"} for k, v in ds.features.items()
                if k not in DEFAULT_FEATURES}
    ref = LeRobotDataset.create("roboalign/reference", fps=ds.fps, features=features, root=where / "ref",
                                robot_type=ds.meta.robot_type, use_videos=True)
    hf = ds.hf_dataset.with_format(None)
    ep_col = np.asarray(hf["episode_index"])
    for ep in sorted(set(ep_col.tolist())):
        for i in np.flatnonzero(ep_col == ep):
            frame = {"observation.state": np.asarray(hf[int(i)]["observation.state"], np.float32),
                     "action": np.asarray(hf[int(i)]["action"], np.float32),
                     "task": ds.meta.tasks.iloc[hf[int(i)]["task_index"]].name}
            frame.update({c: images[c][i] for c in images})
            ref.add_frame(frame)
        ref.save_episode()
    ref.finalize()
    a, b = Path(ds.root), where / "ref"
    info_a, info_b = (json.loads((p / "meta/info.json").read_text()) for p in (a, b))
    stats_a, stats_b = (json.loads((p / "meta/stats.json").read_text()) for p in (a, b))

    def schema(p: Path) -> dict:
        s = pq.read_schema(p)
        return {"columns": {f.name: str(f.type) for f in s}, "huggingface": (s.metadata or {}).get(b"huggingface", b"").decode()}

    def diff(x, y, path=""):
        if isinstance(x, dict) and isinstance(y, dict):
            out = []
            for k in sorted(set(x) | set(y)):
                if k not in x or k not in y:
                    out.append(f"{path}/{k}: only in {'ours' if k in x else 'lerobot'}")
                else:
                    out += diff(x[k], y[k], f"{path}/{k}")
            return out
        return [] if x == y else [f"{path}: ours {x!r} lerobot {y!r}"]

    files = {"data": "data/chunk-000/file-000.parquet", "episodes": "meta/episodes/chunk-000/file-000.parquet",
             "tasks": "meta/tasks.parquet"}
    schemas = {k: diff(schema(a / f), schema(b / f)) for k, f in files.items()}
    stat_diffs = {}
    for feat in stats_b:
        for s in stats_b[feat]:
            x, y = np.asarray(stats_a.get(feat, {}).get(s, np.nan), float), np.asarray(stats_b[feat][s], float)
            stat_diffs[f"{feat}/{s}"] = float(np.max(np.abs(x - y))) if x.shape == y.shape else f"shape {x.shape} vs {y.shape}"
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    return {"info": diff(info_a, info_b), "schemas": schemas, "files_only_ours": sorted(set(files_a) - set(files_b)),
            "files_only_lerobot": sorted(set(files_b) - set(files_a)),
            "stats_max_abs_diff": {k: v for k, v in stat_diffs.items() if not (isinstance(v, float) and v < 1e-6)}}


# ---------------------------------------------------------------- our side
def _ours(export: Path):
    import numpy as np

    from roboalign.data.lerobot import iter_lerobot_episodes

    eps = list(iter_lerobot_episodes(export))
    frames = {"state": np.concatenate([e.joint_positions for _n, e in eps]).astype(np.float32),
              "action": np.concatenate([e.actions for _n, e in eps]).astype(np.float32),
              "timestamp": np.concatenate([e.timestamps for _n, e in eps]).astype(np.float32),
              "frame_index": np.concatenate([np.arange(len(e)) for _n, e in eps]),
              "episode_index": np.concatenate([np.full(len(e), e.metadata["lerobot"]["episode_index"]) for _n, e in eps]),
              "task": [e.instruction for _n, e in eps for _ in range(len(e))]}
    cams = list(eps[0][1].images)
    images = {c: np.concatenate([e.images[c] for _n, e in eps]) for c in cams}
    return eps, frames, images


def _image_error(a, b) -> dict:
    import numpy as np

    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"mean_abs": round(float(d.mean()), 4), "p99_abs": float(np.percentile(d, 99)), "max_abs": int(d.max()),
            "identical_fraction": round(float((d == 0).mean()), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", type=Path, help="a LeRobot v3 folder written by `roboalign dataset export`")
    ap.add_argument("--source", type=Path, default=None, help="the episodes it was exported from (codec error)")
    ap.add_argument("--lerobot-python", type=Path, default=None, help="python of the lerobot venv")
    ap.add_argument("--video-backend", default=None, help="LeRobot's decoder: torchcodec or pyav (default: its own choice)")
    ap.add_argument("--reference", action="store_true", help="also compare with LeRobot's own writer's layout")
    ap.add_argument("--lerobot-side", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reference-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.lerobot_side:
        _lerobot_side(args.export, args.lerobot_side, args.video_backend, args.reference_dir)
        return 0

    import numpy as np

    python = args.lerobot_python or next((p for p in VENV_CANDIDATES if p.exists()), None)
    if python is None or not Path(python).exists():
        print(json.dumps({"ok": False, "error": "no lerobot venv: run `make lerobot-env` or pass --lerobot-python"}))
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lerobot.npz"
        cmd = [str(python), __file__, str(args.export.resolve()), "--lerobot-side", str(out)]
        if args.video_backend:
            cmd += ["--video-backend", args.video_backend]
        if args.reference:
            cmd += ["--reference-dir", tmp]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(Path(tmp) / "hf"))
        child = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if child.returncode != 0:
            print(json.dumps({"ok": False, "error": "lerobot could not load the export",
                              "stderr_tail": child.stderr.strip().splitlines()[-15:]}))
            return 1
        theirs = dict(np.load(out))
        side = json.loads(out.with_suffix(".json").read_text())
    lerobot_s = time.perf_counter() - t0
    eps, ours, our_images = _ours(args.export)
    exact = {}
    for k in ("state", "action", "timestamp", "frame_index", "episode_index"):
        a, b = np.asarray(ours[k]), theirs[k].reshape(np.asarray(ours[k]).shape)
        exact[k] = bool(a.shape == b.shape and np.array_equal(a, b))
    exact["index"] = bool(np.array_equal(theirs["index"].reshape(-1), np.arange(len(ours["state"]))))
    exact["task"] = side["tasks"] == ours["task"]
    report = {"export": str(args.export), "lerobot_version": side["lerobot_version"],
              "video_backend": side["video_backend"], **({"backend_note": side["backend_note"]} if side["backend_note"] else {}),
              "episodes": side["episodes"], "frames": side["frames"],
              "fps": side["fps"], "cameras": side["cameras"], "exact": exact,
              "images_lerobot_vs_reader": {c: _image_error(theirs[f"img:{c}"], our_images[c.removeprefix("observation.images.")])
                                           for c in side["cameras"]}}
    if args.source:
        from roboalign.data.sources import iter_episodes

        src = dict(iter_episodes(args.source, include_partial=True))
        names = [n for n, _e in eps]
        report["images_reader_vs_source"] = {
            c: _image_error(our_images[c], np.concatenate([src[n].images[c] for n in names])) for c in our_images}
        report["state_action_vs_source_max_abs"] = float(max(
            np.max(np.abs(e.joint_positions - src[n].joint_positions)) for n, e in eps))
    if "reference" in side:
        report["reference_layout"] = side["reference"]
    report["seconds"] = {"lerobot_load_and_read": round(lerobot_s, 1), "total": round(time.perf_counter() - t0, 1)}
    report["ok"] = all(exact.values()) and side["frames"] == len(ours["state"])
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
