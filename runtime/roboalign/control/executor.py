"""ChunkExecutor: plays policy action chunks as a stream of commands at control rate.

Pure Python + numpy, no ROS (the executor node is wiring around it).

- Interpolation: linear in joint space between consecutive chunk points (a chunk is H
  absolute targets at start_time + k * dt). Linear keeps every command on the segment between
  two targets the policy produced, so it never overshoots them; the safety filter downstream
  smooths the velocity corners.
- Before a chunk's first point it gives the first point; after its last point it holds the
  last one (and counts those ticks as `starved`: the policy did not deliver in time).
- Merging: a newer chunk wins from its start time (or from now, when it arrives late). Over
  `crossfade` seconds after that moment the command blends linearly from the playing
  trajectory to the new chunk, so a replan never makes a step. Points already in the past
  are dropped (only the last one before now stays, to interpolate from).
- Bad input never raises into the control loop: submit() returns a SubmitResult with a reason
  and counts it (rejected: wrong dimension or non-finite; dropped: ends in the past, or is not
  newer than the playing chunk; late: accepted but arrived after its start time by more than
  `late_tolerance`).

Times are seconds on one clock shared with the chunk's start_time (ROS time in the nodes).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.robot import RobotSpec


@dataclasses.dataclass
class ExecutorStats:
    accepted: int = 0
    rejected: int = 0   # invalid chunks (wrong dimension, non-finite, not a chunk)
    dropped: int = 0    # valid but useless: ended before now, or not newer than the playing one
    late: int = 0       # accepted, but arrived more than late_tolerance after their start time
    merged: int = 0     # accepted while another chunk was playing (cross-faded in)
    starved: int = 0    # command() ticks past the end of the playing chunk (holding its last point)

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    reason: str = ""


class _Polyline:
    """Piecewise-linear trajectory through (times[k], points[k]); constant outside."""

    def __init__(self, times: np.ndarray, points: np.ndarray) -> None:
        self.times = times
        self.points = points
        self.end = float(times[-1])

    def sample(self, t: float) -> np.ndarray:
        times = self.times
        if t <= times[0]:
            return self.points[0].copy()
        if t >= times[-1]:
            return self.points[-1].copy()
        k = int(np.searchsorted(times, t, side="right")) - 1
        alpha = (t - times[k]) / (times[k + 1] - times[k])
        return (1.0 - alpha) * self.points[k] + alpha * self.points[k + 1]


class _Crossfade:
    """`old` until t0, then a linear blend into `new` reaching it at t1."""

    def __init__(self, old: Any, new: _Polyline, t0: float, t1: float) -> None:
        self.old, self.new, self.t0, self.t1 = old, new, t0, t1
        self.end = new.end

    def sample(self, t: float) -> np.ndarray:
        if t <= self.t0:
            return self.old.sample(t)
        if t >= self.t1:
            return self.new.sample(t)
        alpha = (t - self.t0) / (self.t1 - self.t0)
        return (1.0 - alpha) * self.old.sample(t) + alpha * self.new.sample(t)


class ChunkExecutor:
    """Turns ActionChunks into one command per control tick.

    Not thread-safe: call submit() and command() from one thread (the executor node does).
    """

    def __init__(self, spec: RobotSpec, crossfade: float = 0.1, late_tolerance: float = 0.1) -> None:
        if not (np.isfinite(crossfade) and crossfade >= 0.0):
            raise ValueError(f"crossfade must be >= 0 s, got {crossfade}")
        if not (np.isfinite(late_tolerance) and late_tolerance >= 0.0):
            raise ValueError(f"late_tolerance must be >= 0 s, got {late_tolerance}")
        self.spec = spec
        self.crossfade = float(crossfade)       # s of blending when a newer chunk takes over
        self.late_tolerance = float(late_tolerance)  # s after start_time before a chunk counts as late
        self.stats = ExecutorStats()
        self._trajectory: _Polyline | _Crossfade | None = None
        self._chunk_start = -np.inf   # start_time of the newest accepted chunk
        self._last_now: float | None = None

    def reset(self) -> None:
        """Forget the playing chunk (command() returns None until the next submit). Stats stay."""
        self._trajectory = None
        self._chunk_start = -np.inf

    @property
    def active(self) -> bool:
        return self._trajectory is not None

    def submit(self, chunk: ActionChunk, now: float | None = None) -> SubmitResult:
        """Offer a chunk; `now` (s) is when it arrives (defaults to the last command() time)."""
        if now is None or not np.isfinite(now):
            now = self._last_now
        reason = self._invalid_reason(chunk)
        if reason:
            self.stats.rejected += 1
            return SubmitResult(False, reason)
        if chunk.start_time <= self._chunk_start:
            self.stats.dropped += 1
            return SubmitResult(False, f"chunk starting at {chunk.start_time:.3f} s is not newer than the playing one")
        times = chunk.times()
        points = chunk.actions
        if now is not None:
            if times[-1] < now:
                self.stats.dropped += 1
                return SubmitResult(False, f"chunk ended {now - times[-1]:.3f} s ago")
            if now - chunk.start_time > self.late_tolerance:
                self.stats.late += 1
            first = max(int(np.searchsorted(times, now, side="right")) - 1, 0)
            times, points = times[first:], points[first:]
        new = _Polyline(times.copy(), points.copy())
        self.stats.accepted += 1
        self._chunk_start = chunk.start_time
        if self._trajectory is None or self.crossfade == 0.0:
            self._trajectory = new
        else:
            t0 = chunk.start_time if now is None else max(chunk.start_time, now)
            self._collapse(t0)
            self._trajectory = _Crossfade(self._trajectory, new, t0, t0 + self.crossfade)
            self.stats.merged += 1
        return SubmitResult(True)

    def command(self, now: float) -> np.ndarray | None:
        """The joint target for time `now` (s), or None when no chunk has been accepted."""
        try:
            now = float(now)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(now) or self._trajectory is None:
            return None
        self._last_now = now
        self._collapse(now)
        if now > self._trajectory.end:
            self.stats.starved += 1
        return self._trajectory.sample(now)

    def _collapse(self, now: float) -> None:
        """Drop cross-fades that have finished, so the chain stays short."""
        traj = self._trajectory
        if isinstance(traj, _Crossfade):
            if now >= traj.t1:
                self._trajectory = traj.new
            else:
                node = traj
                while isinstance(node.old, _Crossfade):
                    if now >= node.old.t1:
                        node.old = node.old.new
                        break
                    node = node.old

    def _invalid_reason(self, chunk: Any) -> str:
        if not isinstance(chunk, ActionChunk):
            return f"expected an ActionChunk, got {type(chunk).__name__}"
        if chunk.dim != self.spec.dof:
            return f"chunk has {chunk.dim} dimensions, the robot has {self.spec.dof} ({', '.join(self.spec.joint_names)})"
        if not chunk.is_finite():
            return "chunk contains NaN or inf"
        return ""
