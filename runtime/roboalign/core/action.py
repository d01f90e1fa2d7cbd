"""ActionChunk: H future commands produced by one policy call."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class ActionChunk:
    """H steps of D-dimensional absolute joint-position targets (rad; gripper in spec units).

    actions[k] is the target for time start_time + k * dt (seconds, same clock as the
    Observation it answers). `provenance` names what produced it (model id or "expert"),
    `observation_time` is the timestamp of the Observation it answers (for latency).
    """

    actions: np.ndarray
    start_time: float
    dt: float
    provenance: str = ""
    observation_time: float | None = None

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, dtype=np.float64)
        if self.actions.ndim != 2 or self.actions.shape[0] < 1 or self.actions.shape[1] < 1:
            raise ValueError(f"ActionChunk.actions must be [H>=1, D>=1], got shape {self.actions.shape}")
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"ActionChunk.dt must be a positive number of seconds, got {self.dt}")
        if not np.isfinite(self.start_time):
            raise ValueError("ActionChunk.start_time must be finite")

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])

    @property
    def dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def end_time(self) -> float:
        """Time of the last action."""
        return self.start_time + (self.horizon - 1) * self.dt

    def times(self) -> np.ndarray:
        return self.start_time + self.dt * np.arange(self.horizon)

    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.actions)))
