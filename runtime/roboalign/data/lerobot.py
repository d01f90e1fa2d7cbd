"""LeRobotDataset v2/v3-style folders -> EpisodeData (read with pyarrow, no lerobot install needed).

Layout:
    meta/info.json         {"fps": 10, "features": {"observation.state": {"shape": [D]},
                            "action": {"shape": [D]},
                            "observation.images.<cam>": {"dtype": "image", ...}}}
    meta/tasks.parquet (v3: columns task_index + task, or the task as index) or
    meta/tasks.jsonl   (v2: {"task_index": 0, "task": "..."} per line)
    data/**/*.parquet      one row per frame: episode_index, frame_index, task_index,
                           observation.state, action, observation.images.<cam>
Image columns must hold images (struct {bytes, path}: PNG/JPEG bytes or a path relative to
the dataset root). Video features (dtype "video") are not decoded here: the error says so.
`action` must be absolute joint targets in the same units as `observation.state`; dt = 1 / fps.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from roboalign.data.frames import EpisodeData


def is_lerobot_dir(path: str | Path) -> bool:
    return (Path(path) / "meta" / "info.json").is_file()


def _lerobot_tasks(root: Path) -> dict[int, str]:
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


def load_lerobot_episodes(path: str | Path, limit: int | None = None) -> list[EpisodeData]:
    import pandas as pd
    import pyarrow.parquet as pq

    root = Path(path)
    info = json.loads((root / "meta" / "info.json").read_text())
    features = info.get("features", {})
    cams = [k for k, v in features.items() if k.startswith("observation.images.")]
    videos = [k for k in cams if features[k].get("dtype") == "video"]
    if videos:
        raise ValueError(
            f"{root}: camera features {videos} are stored as video; this loader reads image features only. "
            "Re-export the dataset with images (LeRobot `video=False`) or decode the videos to PNG first."
        )
    for key in ("observation.state", "action"):
        if key not in features:
            raise ValueError(f"{root}/meta/info.json: feature {key!r} missing (have {sorted(features)})")
    fps = float(info.get("fps") or 0)
    if fps <= 0:
        raise ValueError(f"{root}/meta/info.json: 'fps' must be a positive number")
    tasks = _lerobot_tasks(root)
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}/data holds no parquet files")
    df = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    out = []
    for ep_index, rows in df.sort_values(["episode_index", "frame_index"]).groupby("episode_index", sort=True):
        if limit and len(out) >= limit:
            break
        task_index = int(rows["task_index"].iloc[0]) if "task_index" in rows else 0
        images = {k.removeprefix("observation.images."): np.stack([_decode_image(c, root) for c in rows[k]]) for k in cams}
        out.append(EpisodeData(
            instruction=tasks.get(task_index, ""),
            images=images,
            joint_positions=np.stack(rows["observation.state"].to_numpy()).astype(np.float64),
            actions=np.stack(rows["action"].to_numpy()).astype(np.float64),
            dt=1.0 / fps,
            name=f"episode_{int(ep_index):06d}",
        ))
    return out
