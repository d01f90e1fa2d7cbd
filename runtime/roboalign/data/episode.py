"""Episode: one recorded demonstration at policy rate, saved as npz + json (crash-safe).

On disk an episode is a folder:
  episode.json  instruction, success, dt, cameras, length, task metadata (human readable)
  arrays.npz    joint_positions [T, D], actions [T, D], timestamps [T], image_<camera> [T, H, W, 3]
It is written into a temporary sibling folder, fsynced, then renamed into place, so a crash
never leaves a half-written episode under the final name.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


@dataclasses.dataclass
class Episode:
    """T steps sampled every `dt` seconds.

    images: camera name -> uint8 [T, H, W, 3] (RGB), may be empty.
    joint_positions: [T, D] measured state (rad; gripper 0..1) at each step.
    actions: [T, D] absolute joint targets commanded at each step (what the policy should say).
    timestamps: [T] seconds since the episode start.
    metadata: task and provenance (family, target, seed, robot spec dict, policy, ...).
    """

    instruction: str
    images: dict[str, np.ndarray]
    joint_positions: np.ndarray
    actions: np.ndarray
    timestamps: np.ndarray
    success: bool
    dt: float = 0.1
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joint_positions = np.asarray(self.joint_positions, dtype=np.float64)
        self.actions = np.asarray(self.actions, dtype=np.float64)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        t = self.timestamps.shape[0]
        if self.joint_positions.ndim != 2 or self.actions.ndim != 2:
            raise ValueError("Episode: joint_positions and actions must be [T, D]")
        if self.joint_positions.shape[0] != t or self.actions.shape[0] != t:
            raise ValueError(
                f"Episode: {t} timestamps but joint_positions has {self.joint_positions.shape[0]} rows "
                f"and actions {self.actions.shape[0]}"
            )
        for cam, img in self.images.items():
            if img.dtype != np.uint8 or img.ndim != 4 or img.shape[0] != t or img.shape[3] != 3:
                raise ValueError(f"Episode: images[{cam!r}] must be uint8 [T={t}, H, W, 3], got {img.dtype} {img.shape}")

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self.images)

    def action_chunk(self, t: int, horizon: int) -> np.ndarray:
        """actions[t : t + horizon], padded by repeating the last action: [horizon, D]."""
        if not 0 <= t < len(self):
            raise IndexError(f"step {t} outside an episode of {len(self)} steps")
        chunk = self.actions[t : t + horizon]
        if chunk.shape[0] < horizon:
            pad = np.repeat(self.actions[-1:], horizon - chunk.shape[0], axis=0)
            chunk = np.concatenate([chunk, pad], axis=0)
        return chunk.copy()

    # ------------------------------------------------------------------------------- storage
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the episode folder atomically (temp folder, fsync, rename); returns its path."""
        final = Path(directory)
        if final.exists() and not overwrite:
            raise FileExistsError(f"{final} exists: choose another folder or pass overwrite=True")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            arrays = {
                "joint_positions": self.joint_positions,
                "actions": self.actions,
                "timestamps": self.timestamps,
                **{f"image_{cam}": img for cam, img in self.images.items()},
            }
            with open(tmp / "arrays.npz", "wb") as f:
                np.savez_compressed(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            meta = {
                "format_version": FORMAT_VERSION,
                "instruction": self.instruction,
                "success": bool(self.success),
                "dt": float(self.dt),
                "length": len(self),
                "cameras": list(self.images),
                "metadata": self.metadata,
            }
            with open(tmp / "episode.json", "w") as f:
                json.dump(meta, f, indent=2, default=_json_default)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    @classmethod
    def load(cls, directory: str | Path) -> Episode:
        d = Path(directory)
        if not (d / "episode.json").is_file() or not (d / "arrays.npz").is_file():
            raise FileNotFoundError(f"{d} is not an episode folder (needs episode.json and arrays.npz, written by Episode.save)")
        meta = json.loads((d / "episode.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{d}: episode format {meta.get('format_version')} is not supported (expected {FORMAT_VERSION})")
        with np.load(d / "arrays.npz") as z:
            images = {cam: z[f"image_{cam}"] for cam in meta["cameras"]}
            return cls(
                instruction=meta["instruction"],
                images=images,
                joint_positions=z["joint_positions"],
                actions=z["actions"],
                timestamps=z["timestamps"],
                success=bool(meta["success"]),
                dt=float(meta["dt"]),
                metadata=meta.get("metadata", {}),
            )


def robot_spec(metadata: dict[str, Any]) -> dict[str, Any]:
    """The RobotSpec dict an episode's metadata carries ("robot" in sim episodes, "robot_spec" in
    recordings, where "robot" is the robot's name), or {}."""
    for key in ("robot", "robot_spec"):
        if isinstance(metadata.get(key), dict):
            return metadata[key]
    return {}


def joint_names(ep: Episode) -> list[str]:
    """The episode's joint names (from its robot spec or recording), else joint_0 .. joint_{D-1}."""
    dim = ep.joint_positions.shape[1]
    names = robot_spec(ep.metadata).get("joint_names") or ep.metadata.get("joint_names") or []
    return [str(n) for n in names] if len(names) == dim else [f"joint_{i}" for i in range(dim)]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in episode metadata")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
