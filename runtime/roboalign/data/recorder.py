"""EpisodeRecorder: the control loop's recorder hook that keeps an Episode at policy rate.

Pass it as `ControlLoop(..., recorder=EpisodeRecorder(...))`; it keeps every tick whose index
is a multiple of round(period_s / control_period), so an Episode's steps are exactly
`period_s` apart on the robot's clock. Each kept step holds:

- joint_positions: the joints measured at the start of the tick;
- actions: the executor's command for that tick (the policy's plan played at control rate,
  what a learned policy should say), or the safe command on ticks before any plan;
- images: the freshest frame of each camera (Camera.read_latest; a simulated camera renders
  the current instant, shared with the policy's observation on planning ticks);
- timestamps: seconds since the first recorded tick.

Held in memory; Episode.save writes it crash-safe (temporary folder, fsync, rename).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from roboalign.core.camera import Camera
from roboalign.data.episode import Episode

if TYPE_CHECKING:  # the loop calls us; we only read its Tick record
    from roboalign.control.loop import Tick


class EpisodeRecorder:
    """Keeps every `period_s` of ticks from a loop running at `control_period` seconds."""

    def __init__(self, cameras: Mapping[str, Camera], period_s: float, control_period: float) -> None:
        if not (math.isfinite(period_s) and period_s > 0 and math.isfinite(control_period) and control_period > 0):
            raise ValueError(f"EpisodeRecorder needs positive periods, got {period_s} and {control_period}")
        self.cameras = dict(cameras)
        self.every = max(1, int(round(period_s / control_period)))
        self.dt = self.every * control_period
        self.clear()

    def clear(self) -> None:
        """Forget the steps kept so far (before reusing the recorder for another episode)."""
        self._frames: dict[str, list[np.ndarray]] = {c: [] for c in self.cameras}
        self._joints: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._times: list[float] = []

    def __len__(self) -> int:
        return len(self._times)

    def __call__(self, tick: Tick) -> None:
        if tick.index % self.every:
            return
        action = tick.requested if tick.requested is not None else tick.command
        if action is None:
            return  # nothing commanded yet (a filter not initialised): no step to learn from
        images = tick.observation.images if tick.observation is not None else {}
        for name, camera in self.cameras.items():
            image = images.get(name)
            self._frames[name].append(image if image is not None else camera.read_latest(math.inf).image)
        self._joints.append(np.array(tick.state.positions, dtype=np.float64))
        self._actions.append(np.array(action, dtype=np.float64))
        self._times.append(float(tick.time))

    def episode(self, instruction: str, success: bool, metadata: dict[str, Any] | None = None) -> Episode:
        """The kept steps as an Episode (raises ValueError if none were kept)."""
        if not self._times:
            raise ValueError("EpisodeRecorder: no step was recorded (did the loop run?)")
        t = np.asarray(self._times)
        return Episode(
            instruction=instruction,
            images={c: np.stack(v) for c, v in self._frames.items()},
            joint_positions=np.stack(self._joints),
            actions=np.stack(self._actions),
            timestamps=t - t[0],
            success=bool(success),
            dt=self.dt,
            metadata=dict(metadata or {}),
        )
