"""Observation: what the policy sees at one instant."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Observation:
    """One policy input.

    images: camera name -> uint8 array [H, W, 3] (RGB).
    joint_positions: [D] float64, rad (gripper in the RobotSpec's unit), in RobotSpec order.
    joint_velocities: [D] rad/s, optional.
    instruction: natural-language task.
    timestamp: seconds (the clock of whoever built it: ROS time on robots) at which the
        observation was assembled.
    capture_times: stream name ("joints", camera names) -> capture time in seconds, same clock.
    privileged: simulation-only ground truth (e.g. object positions, metres). Never present on
        a real robot; only the scripted expert reads it.
    intrinsics: camera name -> 3x3 camera matrix K (pixels) of that camera's image, for the
        cameras whose calibration (or device) is known; a policy that does not use geometry
        ignores it.
    """

    images: dict[str, np.ndarray]
    joint_positions: np.ndarray
    instruction: str = ""
    timestamp: float = 0.0
    joint_velocities: np.ndarray | None = None
    capture_times: dict[str, float] = dataclasses.field(default_factory=dict)
    privileged: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    intrinsics: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joint_positions = np.asarray(self.joint_positions, dtype=np.float64).reshape(-1)
        if self.joint_velocities is not None:
            self.joint_velocities = np.asarray(self.joint_velocities, dtype=np.float64).reshape(-1)
            if self.joint_velocities.shape != self.joint_positions.shape:
                raise ValueError("Observation: joint_velocities and joint_positions differ in length")
        for name, img in self.images.items():
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                shape = getattr(img, "shape", None)
                dtype = getattr(img, "dtype", type(img).__name__)
                raise ValueError(f"Observation: image {name!r} must be uint8 [H, W, 3], got {dtype} {shape}")
        for name, k in self.intrinsics.items():
            k = np.asarray(k, dtype=np.float64)
            if k.shape != (3, 3) or not np.isfinite(k).all():
                raise ValueError(f"Observation: intrinsics {name!r} must be a finite 3x3 matrix, got {k.shape}")
            self.intrinsics[name] = k
