"""Episodes -> a LeRobotDataset v3.0 folder, laid out as lerobot 0.4.4 writes it.

    report = export_lerobot_v3(iter_episodes("demos"), "exports/demos_v3", ExportOptions(repo_id="lab/demos"))

Layout (paths relative to the folder; chunk-000/file-000 until a file passes its size limit):
    meta/info.json          codebase_version "v3.0", fps, features (dtype/shape/names; a video
                            feature also its stream `info`), totals, chunk/file size limits, path templates
    meta/stats.json         per feature: min max mean std count q01 q10 q50 q90 q99 (data/lerobot_stats.py)
    meta/tasks.parquet      one row per distinct instruction: column task_index, the task string as index
    meta/episodes/chunk-000/file-000.parquet
                            one row per episode: episode_index, tasks, length, data file and
                            dataset_from/to_index, per camera the video file and from/to_timestamp
                            (seconds in that file), the episode's stats flattened as stats/<feature>/<stat>,
                            meta/episodes/chunk_index|file_index; plus two columns of ours that
                            LeRobot carries along unread: success (bool) and metadata (the Episode's, JSON)
    data/chunk-000/file-000.parquet
                            one row per frame: observation.state, action (float32 [D]), timestamp
                            (float32 s, = frame_index / fps), frame_index, episode_index, index
                            (frame number in the dataset), task_index
    videos/observation.images.<camera>/chunk-000/file-000.mp4
                            every episode's frames back to back: each episode encoded alone,
                            then appended (roboalign.data.video)

Mapping from an Episode: observation.state = joint_positions (measured), action = actions (the
absolute joint targets commanded at that step), task = instruction, fps = 1 / dt. LeRobot
datasets are fixed-rate, so timestamps are written on the grid frame_index / fps; an episode
whose own timestamps stray more than half a step from that grid (a gap) is refused.
The folder is built beside `out` under a temporary name and renamed into place when complete.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from roboalign.data import lerobot_stats
from roboalign.data.episode import Episode, _json_default, joint_names, robot_spec
from roboalign.data.video import CODECS, VideoAppender, VideoCodec, encode, stream_info

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000            # files per chunk folder
DATA_FILE_SIZE_MB = 100       # a data (or episodes-metadata) parquet file grows to about this
VIDEO_FILE_SIZE_MB = 200      # a camera's mp4 file grows to about this
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
IMAGE_PREFIX = "observation.images."
DEFAULT_FEATURES = {  # the bookkeeping columns LeRobot adds to every dataset, in its order
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


@dataclasses.dataclass
class ExportOptions:
    repo_id: str = "roboalign/demonstrations"
    codec: VideoCodec = CODECS["libsvtav1"]
    include_partial: bool = False      # episodes flagged metadata["partial"] (a recovered crash)
    only_successful: bool = False
    robot_type: str | None = None      # default: the robot spec's name, when the episodes carry one
    overwrite: bool = False
    chunks_size: int = CHUNKS_SIZE
    data_files_size_in_mb: float = DATA_FILE_SIZE_MB
    video_files_size_in_mb: float = VIDEO_FILE_SIZE_MB


@dataclasses.dataclass
class ExportReport:
    root: str
    repo_id: str
    episodes: int
    frames: int
    fps: int
    tasks: list[str]
    cameras: list[str]
    codec: dict
    skipped_partial: list[str]
    skipped_unsuccessful: list[str]
    skipped_empty: list[str]
    max_timestamp_offset_s: float   # largest |source timestamp - frame_index / fps| written
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fps_of(dt: float, where: str) -> int:
    """LeRobot stores an integer frame rate: 1 / dt must be one."""
    fps = round(1.0 / dt)
    if fps < 1 or abs(1.0 / dt - fps) > 1e-6 * fps:
        raise ValueError(f"{where}: dt = {dt} s is {1.0 / dt:.6g} frames/s; LeRobot datasets need an integer rate")
    return int(fps)


class _Layout:
    """Features and shapes fixed by the first exported episode; later ones must match."""

    def __init__(self, ep: Episode, name: str) -> None:
        self.fps = fps_of(ep.dt, name)
        self.dim = int(ep.joint_positions.shape[1])
        self.names = joint_names(ep)
        self.cameras = {c: tuple(int(s) for s in img.shape[1:]) for c, img in ep.images.items()}
        vec = {"dtype": "float32", "shape": [self.dim], "names": self.names}
        self.features: dict[str, dict] = {"observation.state": dict(vec), "action": dict(vec)}
        for cam, (h, w, _c) in self.cameras.items():
            self.features[IMAGE_PREFIX + cam] = {"dtype": "video", "shape": [h, w, 3],
                                                 "names": ["height", "width", "channels"]}
        self.features.update(json.loads(json.dumps(DEFAULT_FEATURES)))

    def check(self, ep: Episode, name: str) -> None:
        if fps_of(ep.dt, name) != self.fps:
            raise ValueError(f"{name}: recorded at {1 / ep.dt:g} frames/s, the export is at {self.fps} (one rate per dataset)")
        if ep.joint_positions.shape[1] != self.dim or ep.actions.shape[1] != self.dim:
            raise ValueError(f"{name}: {ep.joint_positions.shape[1]} joints, the export has {self.dim}")
        cams = {c: tuple(int(s) for s in img.shape[1:]) for c, img in ep.images.items()}
        if cams != self.cameras:
            raise ValueError(f"{name}: cameras {cams} differ from the export's {self.cameras}")


class _Rolling:
    """Chunk/file indices of a growing file series: the next file once the current one would pass
    `limit_mb` (estimated from its bytes per frame so far, as LeRobot does)."""

    def __init__(self, limit_mb: float, chunks_size: int) -> None:
        self.limit = limit_mb * 1024**2
        self.chunks_size = chunks_size
        self.chunk, self.file, self.frames = 0, 0, 0

    def next_needed(self, size_bytes: int, new_frames: int) -> bool:
        if self.frames == 0:
            return False
        return size_bytes + size_bytes / self.frames * new_frames >= self.limit

    def advance(self) -> None:
        self.file += 1
        if self.file == self.chunks_size:
            self.chunk, self.file = self.chunk + 1, 0
        self.frames = 0


def _hf_metadata(features: dict[str, dict]) -> bytes:
    """The `huggingface` schema metadata `datasets` writes (LeRobot's parquet files carry it)."""
    hf = {}
    for key, ft in features.items():
        if ft["dtype"] == "video":
            continue
        value = {"dtype": ft["dtype"], "_type": "Value"}
        hf[key] = value if ft["shape"] == [1] else {"feature": value, "length": ft["shape"][0], "_type": "List"}
    return json.dumps({"info": {"features": hf}}).encode()


def _frame_table(ep: Episode, layout: _Layout, ep_index: int, first_index: int, task_index: int):
    import pyarrow as pa

    n = len(ep)

    def vectors(a: np.ndarray):
        return pa.FixedSizeListArray.from_arrays(pa.array(a.astype(np.float32).reshape(-1)), layout.dim)

    frame_index = np.arange(n, dtype=np.int64)
    columns = {
        "observation.state": vectors(ep.joint_positions),
        "action": vectors(ep.actions),
        "timestamp": pa.array((frame_index / layout.fps).astype(np.float32)),
        "frame_index": pa.array(frame_index),
        "episode_index": pa.array(np.full(n, ep_index, np.int64)),
        "index": pa.array(np.arange(first_index, first_index + n, dtype=np.int64)),
        "task_index": pa.array(np.full(n, task_index, np.int64)),
    }
    table = pa.table(columns)
    return table.replace_schema_metadata({b"huggingface": _hf_metadata(layout.features)})


def _episode_stats(ep: Episode, layout: _Layout, ep_index: int, first_index: int, task_index: int) -> dict:
    """As LeRobot's compute_episode_stats sees the episode buffer (same dtypes)."""
    n = len(ep)
    stats = {"observation.state": lerobot_stats.vector_stats(ep.joint_positions.astype(np.float32)),
             "action": lerobot_stats.vector_stats(ep.actions.astype(np.float32))}
    for cam in layout.cameras:
        stats[IMAGE_PREFIX + cam] = lerobot_stats.image_stats(ep.images[cam])
    frame_index = np.arange(n, dtype=np.int64)
    stats["timestamp"] = lerobot_stats.vector_stats(frame_index / layout.fps)
    stats["frame_index"] = lerobot_stats.vector_stats(frame_index)
    stats["episode_index"] = lerobot_stats.vector_stats(np.full(n, ep_index, np.int64))
    stats["index"] = lerobot_stats.vector_stats(np.arange(first_index, first_index + n, dtype=np.int64))
    stats["task_index"] = lerobot_stats.vector_stats(np.full(n, task_index, np.int64))
    return stats


def _timestamp_offset(ep: Episode, fps: int, name: str) -> float:
    grid = np.arange(len(ep)) / fps
    off = float(np.max(np.abs(ep.timestamps - grid))) if len(ep) else 0.0
    if off > 0.5 / fps:
        k = int(np.argmax(np.abs(ep.timestamps - grid)))
        raise ValueError(f"{name}: step {k} is at {ep.timestamps[k]:.4f} s, {grid[k]:.4f} s on the {fps} frames/s "
                         "grid: the episode is not fixed-rate (a gap?); LeRobot datasets are")
    return off


def _prepare_out(out: Path, overwrite: bool) -> Path:
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty: choose another folder or overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


class _Writer:
    """The dataset being written into `root`, one episode at a time; `finish()` writes meta/."""

    def __init__(self, root: Path, opt: ExportOptions) -> None:
        self.root, self.opt = root, opt
        self.layout: _Layout | None = None
        self.tasks: dict[str, int] = {}
        self.rows: list[dict] = []
        self.stats: list[dict] = []
        self.frames = 0
        self.max_offset = 0.0
        self._data_roll = _Rolling(opt.data_files_size_in_mb, opt.chunks_size)
        self._data_writer = None
        self._videos: dict[str, tuple[_Rolling, VideoAppender]] = {}

    def add(self, name: str, ep: Episode) -> None:
        if self.layout is None:
            self.layout = _Layout(ep, name)
        self.layout.check(ep, name)
        self.max_offset = max(self.max_offset, _timestamp_offset(ep, self.layout.fps, name))
        ep_index, n = len(self.rows), len(ep)
        task_index = self.tasks.setdefault(ep.instruction, len(self.tasks))
        row = {"episode_index": ep_index, "tasks": [ep.instruction], "length": n,
               **self._write_frames(ep, ep_index, task_index)}
        for cam in self.layout.cameras:
            row.update(self._write_video(IMAGE_PREFIX + cam, ep.images[cam]))
        stats = _episode_stats(ep, self.layout, ep_index, self.frames, task_index)
        self.stats.append(stats)
        row.update({f"stats/{feature}/{stat}": np.asarray(value).tolist()
                    for feature, values in stats.items() for stat, value in values.items()})
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0, "success": bool(ep.success),
                    "metadata": json.dumps({"name": name, **ep.metadata}, default=_json_default)})
        self.rows.append(row)
        self.frames += n

    def _write_frames(self, ep: Episode, ep_index: int, task_index: int) -> dict:
        """The episode's rows -> the current data file (the next one once it would pass its size limit)."""
        import pyarrow.parquet as pq

        roll, n = self._data_roll, len(ep)
        path = self.root / DATA_PATH.format(chunk_index=roll.chunk, file_index=roll.file)
        if self._data_writer is not None and roll.next_needed(path.stat().st_size, n):
            self._data_writer.close()
            self._data_writer = None
            roll.advance()
            path = self.root / DATA_PATH.format(chunk_index=roll.chunk, file_index=roll.file)
        table = _frame_table(ep, self.layout, ep_index, self.frames, task_index)
        if self._data_writer is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._data_writer = pq.ParquetWriter(path, schema=table.schema, compression="snappy", use_dictionary=True)
        self._data_writer.write_table(table)
        roll.frames += n
        return {"data/chunk_index": roll.chunk, "data/file_index": roll.file,
                "dataset_from_index": self.frames, "dataset_to_index": self.frames + n}

    def _write_video(self, key: str, frames: np.ndarray) -> dict:
        """The episode encoded alone, then appended to the camera's current mp4 file (the next file
        once the two together would reach the size limit: LeRobot's rule)."""
        fps, n = self.layout.fps, len(frames)
        episode_mp4 = encode(frames, self.root / ".encoding" / f"{key}.mp4", fps, self.opt.codec)
        roll, appender = self._videos.get(key) or (_Rolling(self.opt.video_files_size_in_mb, self.opt.chunks_size), None)
        if appender is not None and appender.bytes + episode_mp4.stat().st_size >= roll.limit:
            appender.close()
            roll.advance()
            appender = None
        if appender is None:
            appender = VideoAppender(self.root / VIDEO_PATH.format(video_key=key, chunk_index=roll.chunk,
                                                                   file_index=roll.file), fps)
            self._videos[key] = (roll, appender)
        start = appender.append(episode_mp4, n)
        return {f"videos/{key}/chunk_index": roll.chunk, f"videos/{key}/file_index": roll.file,
                f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": start + n / fps}

    def close_files(self) -> None:
        if self._data_writer is not None:
            self._data_writer.close()
            self._data_writer = None
        for _roll, appender in self._videos.values():
            appender.close()
        shutil.rmtree(self.root / ".encoding", ignore_errors=True)

    def finish(self, robot_type: str | None) -> None:
        """Episodes, tasks, stats, then info.json (what LeRobot reads first) last."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.close_files()
        layout, root = self.layout, self.root
        path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = {k: [r.get(k) for r in self.rows] for k in dict.fromkeys(k for r in self.rows for k in r)}
        pq.write_table(pa.Table.from_pydict(columns), path, compression="snappy")
        _write_tasks(root, self.tasks)
        _write_json(root / "meta" / "stats.json", lerobot_stats.to_json(lerobot_stats.aggregate(self.stats)))
        features = layout.features
        for key in self._videos:
            features[key]["info"] = stream_info(root / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0))
        opt, n_eps = self.opt, len(self.rows)
        _write_json(root / "meta" / "info.json", {
            "codebase_version": CODEBASE_VERSION, "robot_type": robot_type or _robot_type(self.rows),
            "total_episodes": n_eps, "total_frames": self.frames, "total_tasks": len(self.tasks),
            "chunks_size": opt.chunks_size, "data_files_size_in_mb": opt.data_files_size_in_mb,
            "video_files_size_in_mb": opt.video_files_size_in_mb, "fps": layout.fps,
            "splits": {"train": f"0:{n_eps}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if layout.cameras else None, "features": features,
        })


def export_lerobot_v3(episodes: Iterable[tuple[str, Episode]], out: str | Path, options: ExportOptions | None = None,
                      log: Callable[[str], None] | None = None) -> ExportReport:
    """Write `episodes` ((name, Episode) pairs, e.g. roboalign.data.sources.iter_episodes) to `out`."""
    opt = options or ExportOptions()
    out = Path(out)
    t0 = time.perf_counter()
    tmp = _prepare_out(out, opt.overwrite)
    writer = _Writer(tmp, opt)
    skipped: dict[str, list[str]] = {"partial": [], "unsuccessful": [], "empty": []}
    try:
        for name, ep in episodes:
            if ep.metadata.get("partial") and not opt.include_partial:
                skipped["partial"].append(name)
            elif opt.only_successful and not ep.success:
                skipped["unsuccessful"].append(name)
            elif len(ep) == 0:
                skipped["empty"].append(name)
            else:
                writer.add(name, ep)
        if writer.layout is None:
            why = [f"{len(v)} {k}" for k, v in skipped.items() if v]
            raise ValueError("no episode to export" + (f" ({', '.join(why)} left out; --include-partial exports "
                                                        "partial ones)" if why else ""))
        writer.finish(opt.robot_type)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        writer.close_files()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = ExportReport(root=str(out), repo_id=opt.repo_id, episodes=len(writer.rows), frames=writer.frames,
                          fps=writer.layout.fps, tasks=list(writer.tasks), cameras=list(writer.layout.cameras),
                          codec=opt.codec.to_dict(), skipped_partial=skipped["partial"],
                          skipped_unsuccessful=skipped["unsuccessful"], skipped_empty=skipped["empty"],
                          max_timestamp_offset_s=writer.max_offset, seconds=round(time.perf_counter() - t0, 2))
    if log:
        log(f"exported {report.episodes} episodes ({report.frames} frames at {report.fps} fps) to {out}")
    return report


def _robot_type(rows: list[dict]) -> str | None:
    """The robot's name: its spec's, or the name a recording gives as `robot`."""
    meta = json.loads(rows[0]["metadata"])
    name = robot_spec(meta).get("name") or meta.get("robot")
    return name if isinstance(name, str) else None


def _write_tasks(root: Path, tasks: dict[str, int]) -> None:
    """meta/tasks.parquet as LeRobot writes it: pandas, the task strings as the index."""
    import pandas as pd

    pd.DataFrame({"task_index": list(tasks.values())}, index=list(tasks)).to_parquet(root / "meta" / "tasks.parquet")


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=4, ensure_ascii=False)  # as LeRobot's write_json
        f.flush()
        os.fsync(f.fileno())
