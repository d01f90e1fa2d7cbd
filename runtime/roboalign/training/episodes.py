"""Robot-frame sources: the project's Episode folders and LeRobotDataset-style folders.

Accepted layouts (`open_robot_source(path)` tells them apart):

1. Project episodes (roboalign.data.episode.Episode.save): `path` is one episode folder
   (episode.json + arrays.npz), or a folder whose sub-folders are episodes (searched two levels
   deep, so `make-data` output `DIR/train` or `DIR/train/episodes` both work).

2. LeRobotDataset v2/v3-style folder (read with pyarrow, no lerobot install needed):
       meta/info.json         {"fps": 10, "features": {"observation.state": {"shape": [D]},
                               "action": {"shape": [D]},
                               "observation.images.<cam>": {"dtype": "image", ...}}}
       meta/tasks.parquet (v3: columns task_index + task, or the task as index) or
       meta/tasks.jsonl   (v2: {"task_index": 0, "task": "..."} per line)
       data/**/*.parquet      one row per frame: episode_index, frame_index, task_index,
                              observation.state, action, observation.images.<cam>
   Image columns must hold images (struct {bytes, path}: PNG/JPEG bytes or a path relative to
   the dataset root). Video features (dtype "video") are not decoded here: the error says so.
   `action` must be absolute joint targets in the same units as `observation.state`;
   dt = 1 / fps.

Each source is a sequence of RobotSample (chunk of the next `horizon` actions, padded with the
last one); `stride` keeps every k-th frame.
"""
from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roboalign.training.samples import RobotSample


@dataclasses.dataclass
class EpisodeData:
    """What a robot source needs from one episode (the Episode record has these fields)."""

    instruction: str
    images: dict[str, np.ndarray]  # camera -> uint8 [T, H, W, 3]
    joint_positions: np.ndarray  # [T, D]
    actions: np.ndarray  # [T, D] absolute targets
    dt: float
    name: str
    robot: dict | None = None  # RobotSpec dict of the arm that recorded it, when known

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def chunk(self, t: int, horizon: int) -> np.ndarray:
        c = self.actions[t : t + horizon]
        if c.shape[0] < horizon:
            c = np.concatenate([c, np.repeat(self.actions[-1:], horizon - c.shape[0], axis=0)])
        return c


class RobotFrames(Sequence):
    """RobotSample view over a list of episodes: frames (episode, t) with t % stride == 0."""

    def __init__(self, episodes: list[EpisodeData], horizon: int, cameras: Sequence[str] | None = None,
                 stride: int = 1):
        if not episodes:
            raise ValueError("no episodes to read robot frames from")
        if horizon < 1 or stride < 1:
            raise ValueError("horizon and stride must be >= 1")
        self.episodes = episodes
        self.horizon = int(horizon)
        self.cameras = tuple(cameras) if cameras else tuple(episodes[0].images)
        for ep in episodes:
            missing = [c for c in self.cameras if c not in ep.images]
            if missing:
                raise ValueError(f"episode {ep.name} lacks camera(s) {missing} (has {list(ep.images)})")
        self.index = [(e, t) for e, ep in enumerate(episodes) for t in range(0, len(ep), stride)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> RobotSample:
        e, t = self.index[i]
        ep = self.episodes[e]
        return RobotSample(
            images=[ep.images[c][t] for c in self.cameras],
            cameras=self.cameras,
            instruction=ep.instruction,
            state=ep.joint_positions[t],
            chunk=ep.chunk(t, self.horizon),
            dt=ep.dt,
            source=f"{ep.name}#{t}",
        )

    def chunks(self) -> np.ndarray:
        """Absolute chunks of every frame [N, H, D] (no images touched)."""
        return np.stack([self.episodes[e].chunk(t, self.horizon) for e, t in self.index])

    def states(self) -> np.ndarray:
        return np.stack([self.episodes[e].joint_positions[t] for e, t in self.index])


# ------------------------------------------------------------------------------ project episodes
def _is_episode_dir(p: Path) -> bool:
    return (p / "episode.json").is_file() and (p / "arrays.npz").is_file()


def find_episode_dirs(path: str | Path) -> list[Path]:
    """Episode folders at `path`, its children or grandchildren (sorted)."""
    root = Path(path)
    if _is_episode_dir(root):
        return [root]
    found = sorted(p for p in root.glob("*") if p.is_dir() and _is_episode_dir(p))
    if not found:
        found = sorted(p for p in root.glob("*/*") if p.is_dir() and _is_episode_dir(p))
    return found


def load_project_episodes(path: str | Path, only_successful: bool = False, limit: int | None = None) -> list[EpisodeData]:
    from roboalign.data.episode import Episode

    dirs = find_episode_dirs(path)
    if not dirs:
        raise FileNotFoundError(f"no episode folders (episode.json + arrays.npz) under {path}")
    out = []
    for d in dirs[:limit] if limit else dirs:
        ep = Episode.load(d)
        if only_successful and not ep.success:
            continue
        out.append(EpisodeData(ep.instruction, ep.images, ep.joint_positions, ep.actions, ep.dt, d.name,
                               robot=ep.metadata.get("robot")))
    return out


# ------------------------------------------------------------------------------ LeRobot layout
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


def open_robot_source(path: str | Path, horizon: int, cameras: Sequence[str] | None = None, stride: int = 1,
                      only_successful: bool = False, limit: int | None = None) -> RobotFrames:
    """RobotFrames from either layout (see module docstring)."""
    if is_lerobot_dir(path):
        eps = load_lerobot_episodes(path, limit)
    else:
        eps = load_project_episodes(path, only_successful, limit)
    return RobotFrames(eps, horizon, cameras, stride)
