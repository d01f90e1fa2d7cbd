"""LeRobotDataset folders (v3.0 and v2.x) -> Episodes, read with pyarrow and PyAV (no lerobot install).

Layout (what roboalign.data.lerobot_v3 writes, and LeRobot itself):
    meta/info.json         fps, features: observation.state [D], action [D],
                           observation.images.<cam> with dtype "video" (mp4) or "image" (in the parquet)
    meta/tasks.parquet     (v3: column task_index, the task as the index or a `task` column) or
    meta/tasks.jsonl       (v2: {"task_index": 0, "task": "..."} per line)
    meta/episodes/**.parquet (v3) per episode: its video file per camera and from_timestamp
    data/**/*.parquet      one row per frame: episode_index, frame_index, timestamp, task_index,
                           observation.state, action (and image columns: struct {bytes, path})
    videos/...             v3: info.video_path with video_key/chunk_index/file_index (an episode's
                           frames start at its from_timestamp); v2: with episode_chunk/episode_index
A video frame is the one within 1e-4 s (LeRobot's tolerance) of from_timestamp + timestamp.
`action` must be absolute joint targets in the same units as `observation.state`; dt = 1 / fps.
Episodes this project exported carry `success` and `metadata` columns; others count as successful.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from roboalign.data.episode import Episode, robot_spec
from roboalign.data.frames import EpisodeData

IMAGE_PREFIX = "observation.images."
TOLERANCE_S = 1e-4


def is_lerobot_dir(path: str | Path) -> bool:
    return (Path(path) / "meta" / "info.json").is_file()


def read_info(root: str | Path) -> dict:
    root = Path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
    features = info.get("features", {})
    for key in ("observation.state", "action"):
        if key not in features:
            raise ValueError(f"{root}/meta/info.json: feature {key!r} missing (have {sorted(features)})")
    if not float(info.get("fps") or 0) > 0:
        raise ValueError(f"{root}/meta/info.json: 'fps' must be a positive number")
    return info


def read_tasks(root: Path) -> dict[int, str]:
    import pyarrow.parquet as pq

    if (root / "meta" / "tasks.jsonl").is_file():
        rows = [json.loads(line) for line in (root / "meta" / "tasks.jsonl").read_text().splitlines() if line.strip()]
        return {int(r["task_index"]): str(r["task"]) for r in rows}
    if (root / "meta" / "tasks.parquet").is_file():
        df = pq.read_table(root / "meta" / "tasks.parquet").to_pandas()
        if "task" not in df.columns:
            df = df.reset_index().rename(columns={df.index.name or "index": "task"})
        return {int(i): str(t) for i, t in zip(df["task_index"], df["task"])}
    raise FileNotFoundError(f"{root}/meta has neither tasks.jsonl (v2) nor tasks.parquet (v3)")


def read_episodes_meta(root: Path) -> dict[int, dict]:
    """v3 meta/episodes rows by episode_index, without the stats columns ({} for v2)."""
    import pyarrow.parquet as pq

    out: dict[int, dict] = {}
    for f in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        table = pq.read_table(f)
        table = table.select([c for c in table.column_names if not c.startswith("stats/")])
        for row in table.to_pylist():
            out[int(row["episode_index"])] = row
    return out


def read_frames(root: Path):
    """Every data row as one pyarrow table sorted by (episode_index, frame_index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}/data holds no parquet files")
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    return table.sort_by([("episode_index", "ascending"), ("frame_index", "ascending")])


def _vectors(column) -> np.ndarray:
    """A list / fixed-size-list column of T rows -> float64 [T, D]."""
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(column), -1).astype(np.float64)


def _decode_image(cell, root: Path) -> np.ndarray:
    from PIL import Image

    if isinstance(cell, dict):
        if cell.get("bytes"):
            src = io.BytesIO(cell["bytes"])
        elif cell.get("path"):
            src = root / cell["path"]
        else:
            raise ValueError("image cell has neither bytes nor path")
    else:
        raise ValueError(f"unsupported image cell of type {type(cell).__name__}")
    with Image.open(src) as im:
        return np.asarray(im.convert("RGB"))


def _video_file(root: Path, info: dict, meta: dict, key: str, ep_index: int) -> tuple[Path, float]:
    """(mp4 path, the episode's first frame time in it) for camera feature `key`."""
    template = info.get("video_path")
    if not template:
        raise ValueError(f"{root}/meta/info.json: feature {key} is a video but 'video_path' is not set")
    if f"videos/{key}/chunk_index" in meta:  # v3: many episodes per file
        path = template.format(video_key=key, chunk_index=int(meta[f"videos/{key}/chunk_index"]),
                               file_index=int(meta[f"videos/{key}/file_index"]))
        return root / path, float(meta[f"videos/{key}/from_timestamp"])
    if "{episode_index" not in template:
        raise ValueError(f"{root}/meta/episodes: episode {ep_index} has no videos/{key}/chunk_index, file_index and "
                         "from_timestamp (where its frames are)")
    chunk = ep_index // int(info.get("chunks_size") or 1000)  # v2.x: one file per episode
    return root / template.format(video_key=key, episode_chunk=chunk, episode_index=ep_index), 0.0


def iter_lerobot_episodes(path: str | Path, limit: int | None = None, images: bool = True,
                          episodes: set[int] | None = None) -> Iterator[tuple[str, Episode]]:
    """(name, Episode) for every episode of a LeRobotDataset folder, in episode_index order.
    images=False leaves the cameras out (no video decoding); `episodes` picks episode indices."""
    from roboalign.data.video import VideoCursor

    root = Path(path)
    info = read_info(root)
    features = info["features"]
    cams = [k for k in features if k.startswith(IMAGE_PREFIX) and features[k].get("dtype") in ("video", "image")]
    fps = float(info["fps"])
    tasks = read_tasks(root)
    meta = read_episodes_meta(root)
    table = read_frames(root)
    ep_col = table.column("episode_index").to_numpy()
    bounds = np.flatnonzero(np.diff(ep_col)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(ep_col)]
    cursors: dict[str, tuple[Path, VideoCursor]] = {}  # camera -> its open file (one at a time)
    done = 0
    try:
        for s, e in zip(starts, ends):
            ep_index = int(ep_col[s])
            if episodes is not None and ep_index not in episodes:
                continue
            if limit and done >= limit:
                break
            rows = table.slice(s, e - s)
            m = meta.get(ep_index, {})
            timestamps = (rows.column("timestamp").to_numpy().astype(np.float64) if "timestamp" in rows.column_names
                          else np.arange(len(rows)) / fps)
            task_index = int(rows.column("task_index")[0].as_py()) if "task_index" in rows.column_names else 0
            decoded: dict[str, np.ndarray] = {}
            for key in cams if images else ():
                if features[key]["dtype"] == "image":
                    decoded[key.removeprefix(IMAGE_PREFIX)] = np.stack(
                        [_decode_image(c, root) for c in rows.column(key).to_pylist()])
                    continue
                file, start = _video_file(root, info, m, key, ep_index)
                if key not in cursors or cursors[key][0] != file:
                    if key in cursors:
                        cursors[key][1].close()
                    cursors[key] = (file, VideoCursor(file))
                cursor = cursors[key][1]
                try:
                    decoded[key.removeprefix(IMAGE_PREFIX)] = cursor.frames_at(start + timestamps, TOLERANCE_S)
                except ValueError as exc:
                    raise ValueError(f"{root}: episode {ep_index}, camera {key}: {exc}") from exc
            extra = json.loads(m["metadata"]) if m.get("metadata") else {}
            name = extra.pop("name", None) or f"episode_{ep_index:06d}"
            success = bool(m["success"]) if m.get("success") is not None else True
            metadata = {**extra, "lerobot": {"root": str(root), "episode_index": ep_index,
                                             "success_recorded": m.get("success") is not None}}
            yield name, Episode(
                instruction=tasks.get(task_index, ""), images=decoded,
                joint_positions=_vectors(rows.column("observation.state")), actions=_vectors(rows.column("action")),
                timestamps=timestamps, success=success, dt=1.0 / fps, metadata=metadata)
            done += 1
    finally:
        for _file, cursor in cursors.values():
            cursor.close()


def load_lerobot_episodes(path: str | Path, limit: int | None = None,
                          only_successful: bool = False) -> list[EpisodeData]:
    out = []
    for name, ep in iter_lerobot_episodes(path, limit):
        if only_successful and not ep.success:
            continue
        out.append(EpisodeData(ep.instruction, ep.images, ep.joint_positions, ep.actions, ep.dt, name,
                               robot=robot_spec(ep.metadata) or None))
    return out
