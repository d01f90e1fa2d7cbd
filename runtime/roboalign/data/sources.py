"""Robot-frame sources: the project's Episode folders and LeRobotDataset-style folders.

    frames = open_robot_source("outputs/sim_data/val", horizon=16)   # RobotFrames (RobotSample each)

Accepted layouts (`open_robot_source(path)` tells them apart):

1. Project episodes (roboalign.data.episode.Episode.save): `path` is one episode folder
   (episode.json + arrays.npz), or a folder whose sub-folders are episodes (searched two levels
   deep, so `make-data` output `DIR/train` or `DIR/train/episodes` both work).
2. LeRobotDataset v3.0 (or v2.x) folder, camera frames as mp4 or images: see
   roboalign.data.lerobot (`roboalign dataset export --to lerobot` writes one).
3. MCAP recordings (`roboalign record`, roboalign.data.recording): a folder of sealed
   episode_NNNNNN.mcap files (or one sub-folder level down), resampled at the recorded policy
   rate; recovered partial episodes are left out.

`iter_episodes(path)` yields whole Episodes from any of them (export, `roboalign dataset`).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from roboalign.data.frames import EpisodeData, RobotFrames
from roboalign.data.lerobot import is_lerobot_dir, iter_lerobot_episodes, load_lerobot_episodes

if TYPE_CHECKING:
    from roboalign.data.episode import Episode


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


def load_recorded_episodes(path: str | Path, only_successful: bool = False,
                           limit: int | None = None) -> list[EpisodeData]:
    """EpisodeData from the sealed MCAP recordings at `path` (layout 3; empty if none)."""
    from roboalign.data.recording_reader import find_recordings, load_recording

    out = []
    found = find_recordings(path)
    for p in found[:limit] if limit else found:
        ep = load_recording(p, allow_partial=False)
        if only_successful and not ep.success:
            continue
        out.append(EpisodeData(ep.instruction, ep.images, ep.joint_positions, ep.actions, ep.dt, p.stem,
                               robot=ep.metadata.get("robot_spec")))
    return out


def has_recordings(path: str | Path) -> bool:
    """episode_NNNNNN.mcap files at `path` or one level down (no mcap import to find out)."""
    root = Path(path)
    if root.is_file():
        return root.suffix == ".mcap"
    return not find_episode_dirs(root) and any(p.is_file() for pattern in ("episode_*.mcap", "*/episode_*.mcap")
                                               for p in root.glob(pattern))


def iter_episodes(path: str | Path, include_partial: bool = False, images: bool = True) -> Iterator[tuple[str, Episode]]:
    """(name, Episode) for every episode at `path`, in any accepted layout, one at a time (the
    LeRobot exporter and `roboalign dataset info|view` read through this). Episodes flagged
    metadata["partial"] (recovered after a crash) only with include_partial; images=False may
    skip decoding camera frames where that costs (LeRobot videos)."""
    from roboalign.data.episode import Episode

    if is_lerobot_dir(path):
        for name, ep in iter_lerobot_episodes(path, images=images):
            if include_partial or not ep.metadata.get("partial"):
                yield name, ep
        return
    if has_recordings(path):
        from roboalign.data.recording_reader import find_recordings, load_recording

        for p in find_recordings(path, include_partial=True):
            ep = load_recording(p)
            if include_partial or not ep.metadata.get("partial"):
                yield p.stem, ep
        return
    dirs = find_episode_dirs(path)
    if not dirs:
        raise FileNotFoundError(f"no episodes under {path}: expected episode folders (episode.json + arrays.npz), "
                                "MCAP recordings (episode_*.mcap) or a LeRobotDataset folder (meta/info.json)")
    for d in dirs:
        ep = Episode.load(d)
        if include_partial or not ep.metadata.get("partial"):
            yield d.name, ep


def open_robot_source(path: str | Path, horizon: int, cameras: Sequence[str] | None = None, stride: int = 1,
                      only_successful: bool = False, limit: int | None = None) -> RobotFrames:
    """RobotFrames from either layout (see module docstring)."""
    if is_lerobot_dir(path):
        eps = load_lerobot_episodes(path, limit, only_successful)
    elif has_recordings(path):
        eps = load_recorded_episodes(path, only_successful, limit)
    else:
        eps = load_project_episodes(path, only_successful, limit)
    return RobotFrames(eps, horizon, cameras, stride)
