"""ChunkExecutor: plays policy action chunks as a stream of commands at control rate, with
real-time chunking: the next chunk is computed while the current one plays, and joins it where
the arm will be.

Pure Python + numpy, no ROS (the executor node is wiring around it; control/loop.py drives it in
the direct loop). A chunk is H absolute joint targets at start_time + k * dt; start_time is the
observation's time, on the clock of `now` (ROS time in the nodes, the robot's clock in the loop).

Interpolation `cubic` (the default):
- Within a chunk: a velocity-continuous cubic through its points (control.trajectory.chunk_plan:
  monotone Catmull-Rom tangents) that never overshoots them and comes to rest on the last one.
  Points are first clamped into the position band (the RobotSpec's limits less
  `position_margin`, or `gripper_margin` for the gripper), so the plan never asks for what the
  safety filter would clamp.
- Limits (time-scaling): a segment of a chunk that would ask for more than 85 % of `limit_scale`
  x the RobotSpec's velocity or acceleration limits is stretched in time until it does not (its
  points come later than the chunk said, never earlier; the next chunk joins from wherever the
  plan is). Blends keep within `limit_scale` x the limits (see Join). So the command stream keeps
  within the limits wherever the chunks allow, and the safety filter downstream rarely has to act.
- Latency: a chunk arriving at `now` answers an observation of `observation_time` (or, when the
  chunk does not say, `start_time`); `now` minus that is the inference delay (`last_delay`,
  `max_delay`, in s).
- Late steps: a chunk point before `now` is never a target (counted in `past_points`): the
  chunk's plan is taken from now on, starting at the chunk's own position for now (on its
  segment from the last point before now to the next), so nothing meant for the past is
  replayed. A chunk that ends before now is dropped.
- Join (real-time chunking): what the playing plan commanded while the policy computed the new
  chunk was played; from t_j = max(now, start_time) a blend (control.trajectory.Blend) takes
  the playing plan over into the new chunk's plan: it starts at the playing plan's position,
  velocity and acceleration at t_j and reaches the new plan's at t_j + window (per joint), so
  the commanded velocity is continuous across every join. The window is `crossfade` s or longer:
  lengthened until the blend's velocity and acceleration stay within `limit_scale` x the limits
  (where one of the two plans itself asks for more, the blend adds at most 2 % of the limit).
- Start: the first chunk after `reset(positions)` joins from those (measured) joints at rest,
  like any other chunk; without them it starts at rest on its own position for now.
- Bound (no overshoot): every command lies, per joint, within the range of the positions given
  to reset() and the (clamped) points of the chunks accepted since, from the last point before
  their arrival on; exactly, or within 1e-4 rad when a chunk joins while the previous join is
  still blending (that blend then goes on as knots every 5 ms with its own positions and
  velocities, so blends never nest). It is also inside the position band, or between it and
  the reset() positions.

Interpolation `linear` (the executor before real-time chunking; kept for comparison):
- Linear in joint space between consecutive points: every command lies on a segment between two
  targets the policy produced; the safety filter downstream smooths the velocity corners.
- Before a chunk's first point it gives the first point.
- A newer chunk wins from its start time (or from now, when it arrives late), blended linearly
  from the playing trajectory over `crossfade` s. Points already in the past are dropped (only
  the last one before now stays, to interpolate from). reset(positions) ignores the positions.

Both:
- After the last point the executor holds it (counting those ticks as `starved`: the policy did
  not deliver in time).
- Bad input never raises into the control loop: submit() returns a SubmitResult with a reason
  and counts it (rejected: wrong dimension or non-finite; dropped: ends in the past, or is not
  newer than the playing chunk; late: accepted but arrived after its start time by more than
  `late_tolerance`). A rejected or dropped chunk leaves the playing plan untouched.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from roboalign.control.trajectory import (
    Blend,
    Crossfade,
    HermitePlan,
    Polyline,
    blend,
    blend_weights,
    chunk_plan,
    collapse,
)
from roboalign.core.action import ActionChunk
from roboalign.core.robot import RobotSpec

INTERPOLATIONS = ("cubic", "linear")
_PLAN_SHARE = 0.85     # of the executor's limits, for a chunk's own segments (the rest is for blends)
_BLEND_SLACK = 0.02    # of the limits: what a blend may add on top of a plan already at them
_WINDOW_GROWTH = 1.25  # a blend window grows by this factor until the blend is within the limits
_LONGEST_WINDOW = 10.0  # s: a blend window grows at most this long (or twice the new chunk's length)
# s between the knots of a blend still playing when the next chunk joins (its resampling
# error, O(step^2 x its acceleration changes), stays below 1e-4 rad)
_RESAMPLE_STEP = 0.005
_WINDOW_BATCH = 8      # windows checked together
_WINDOW_SAMPLES = 33   # times per window at which a blend's velocity and acceleration are checked


@dataclasses.dataclass
class ExecutorStats:
    accepted: int = 0
    rejected: int = 0   # invalid chunks (wrong dimension, non-finite, not a chunk)
    dropped: int = 0    # valid but useless: ended before now, or not newer than the playing one
    late: int = 0       # accepted, but arrived more than late_tolerance after their start time
    merged: int = 0     # accepted while another chunk was playing (joined onto it)
    starved: int = 0    # command() ticks past the end of the playing chunk (holding its last point)
    past_points: int = 0  # points of accepted chunks already in the past on arrival (never played)

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    reason: str = ""


class ChunkExecutor:
    """Turns ActionChunks into one command per control tick (see the module docstring).

    crossfade: s over which a newer chunk takes over (cubic: the shortest blend window, per
        joint; linear: the linear cross-fade). late_tolerance: s after its start time before a
        chunk counts as late. interpolation: "cubic" or "linear".
    limit_scale: fraction of the RobotSpec's velocity and acceleration limits the cubic plan
        keeps within (below the safety filter's, so that it does not have to act).
    position_margin, gripper_margin: how far inside the spec's position limits the cubic plan
        keeps (rad for arm joints; gripper units), at least the safety filter's margins.
    Not thread-safe: call submit() and command() from one thread (the executor node does).
    """

    def __init__(self, spec: RobotSpec, crossfade: float = 0.1, late_tolerance: float = 0.1,
                 interpolation: str = "cubic", limit_scale: float = 0.9, position_margin: float = 0.025,
                 gripper_margin: float = 0.005) -> None:
        if not (np.isfinite(crossfade) and crossfade >= 0.0):
            raise ValueError(f"crossfade must be >= 0 s, got {crossfade}")
        if not (np.isfinite(late_tolerance) and late_tolerance >= 0.0):
            raise ValueError(f"late_tolerance must be >= 0 s, got {late_tolerance}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
        if not (np.isfinite(limit_scale) and 0.0 < limit_scale <= 1.0):
            raise ValueError(f"limit_scale must be in (0, 1], got {limit_scale}")
        lim = spec.limits
        margin = spec.margins(position_margin, gripper_margin)
        if not (np.all(np.isfinite(margin)) and np.all(margin >= 0.0) and np.all(2.0 * margin < lim.upper - lim.lower)):
            raise ValueError(f"position_margin ({position_margin}) and gripper_margin ({gripper_margin}) must be "
                             ">= 0 and leave room between every joint's limits")
        self.spec = spec
        self.crossfade = float(crossfade)
        self.late_tolerance = float(late_tolerance)
        self.interpolation = interpolation
        self.limit_scale = float(limit_scale)
        self.max_velocity = lim.max_velocity * self.limit_scale          # rad/s per joint
        self.max_acceleration = lim.max_acceleration * self.limit_scale  # rad/s^2 per joint
        self.lower = lim.lower + margin   # the cubic plan's position band (rad)
        self.upper = lim.upper - margin
        self.stats = ExecutorStats()
        self.last_delay: float | None = None  # s from the observation to the last accepted chunk's arrival
        self.max_delay = 0.0                  # s, the largest since construction
        self._trajectory: Any = None          # HermitePlan/Blend (cubic) or Polyline/Crossfade (linear)
        self._chunk_start = -np.inf           # start_time of the newest accepted chunk
        self._start: np.ndarray | None = None  # measured joints the first chunk joins from
        self._floor, self._ceiling = self.lower, self.upper  # the band, widened to hold the start
        self._last_now: float | None = None

    def reset(self, positions: np.ndarray | None = None) -> None:
        """Forget the playing chunk (command() returns None until the next submit). Stats stay.

        positions: the arm's measured joints (at rest): the next chunk joins from them, continuous
        in position and velocity (cubic only). Missing, non-finite or the wrong size: unknown, the
        next chunk starts on its own position."""
        self._trajectory = None
        self._chunk_start = -np.inf
        self._start = None
        if positions is not None and self.interpolation == "cubic":
            q = np.asarray(positions, dtype=np.float64).reshape(-1)
            if q.shape == (self.spec.dof,) and np.all(np.isfinite(q)):
                self._start = q.copy()
        start = self.lower if self._start is None else self._start
        self._floor, self._ceiling = np.minimum(self.lower, start), np.maximum(self.upper, start)

    @property
    def active(self) -> bool:
        return self._trajectory is not None

    @property
    def plan_end(self) -> float | None:
        """Time (s) at which the playing plan reaches its last point and holds there, or None.
        With cubic interpolation a chunk may be played later than its own timing (stretched into
        the limits), so this can be after chunk.end_time."""
        return None if self._trajectory is None else float(self._trajectory.end)

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
        if now is not None:
            if times[-1] < now:
                self.stats.dropped += 1
                return SubmitResult(False, f"chunk ended {now - times[-1]:.3f} s ago")
            if now - chunk.start_time > self.late_tolerance:
                self.stats.late += 1
            observed = chunk.observation_time if chunk.observation_time is not None else chunk.start_time
            if math.isfinite(observed):
                self.last_delay = now - observed
                self.max_delay = max(self.max_delay, self.last_delay)
        if self.interpolation == "cubic":
            self._join_cubic(chunk, now)
        else:
            self._join_linear(chunk, now)
        self.stats.accepted += 1
        self._chunk_start = chunk.start_time
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
        if now > self._trajectory.end:
            self.stats.starved += 1
        self._trajectory = collapse(self._trajectory, now)
        if self.interpolation == "linear":
            return self._trajectory.sample(now)
        # Exactly inside the band (or where the arm started, if outside it): a resampled blend
        # could otherwise stray past it by rounding (< 1e-4 rad).
        return np.clip(self._trajectory.sample(now), self._floor, self._ceiling)

    # ---- cubic: real-time chunking -----------------------------------------------------------
    def _join_cubic(self, chunk: ActionChunk, now: float | None) -> None:
        times, points = chunk.times(), np.clip(chunk.actions, self.lower, self.upper)
        t_join = float(times[0]) if now is None else max(now, float(times[0]))
        if now is not None:
            # Points before now are never targets; the last of them stays as the start of the
            # segment that holds now, so the plan is the chunk's own position for now.
            self.stats.past_points += int(np.count_nonzero(times < now))
            first = max(int(np.searchsorted(times, now, side="right")) - 1, 0)
            times, points = times[first:], points[first:]
        # The chunk's own segments keep within a share of the limits: a blend that starts in the
        # middle of one then has room to join without going past them.
        new = chunk_plan(times, points, _PLAN_SHARE * self.max_velocity, _PLAN_SHARE * self.max_acceleration)
        if self._trajectory is None:  # from the measured joints (or, unknown, the chunk's own position), at rest
            old = HermitePlan.at_rest(t_join, new.sample(t_join) if self._start is None else self._start)
            window = self._blend_window(old, new, t_join)
        else:
            self.stats.merged += 1
            old = collapse(self._trajectory, t_join)
            window = self._blend_window(old, new, t_join)
            if isinstance(old, Blend):  # still blending: play it on as plain knots, so blends never nest
                old = HermitePlan.resampled(old, t_join, t_join + float(np.max(window)), _RESAMPLE_STEP,
                                            through=t_join)
        self._trajectory = Blend(old, new, t_join, t_join + window)

    def _blend_window(self, old: Any, new: HermitePlan, t0: float) -> np.ndarray:
        """Per joint, the shortest window from `crossfade` s up (growing by _WINDOW_GROWTH, at most
        the longest) whose blend stays within the limits. Checked evenly through the window and
        on both sides of every knot of the two plans inside it (accelerations jump at knots);
        _WINDOW_BATCH windows at a time (one evaluation of each plan per batch)."""
        shortest = max(self.crossfade, self.spec.control_period)
        longest = max(shortest, _LONGEST_WINDOW, 2.0 * (new.end - t0))
        tries = int(np.ceil(np.log(longest / shortest) / np.log(_WINDOW_GROWTH))) + 1
        all_windows = np.minimum(shortest * _WINDOW_GROWTH ** np.arange(tries), longest)
        knots = np.union1d(old.knots(), new.knots())
        grid = np.linspace(0.0, 1.0, _WINDOW_SAMPLES)
        chosen = np.full(self.spec.dof, np.nan)  # per joint, once found
        for first in range(0, tries, _WINDOW_BATCH):
            windows = all_windows[first:first + _WINDOW_BATCH]                      # [n]
            inside = knots[(knots > t0) & (knots < t0 + windows[-1])] - t0
            offsets = np.concatenate([windows[:, None] * grid,
                                      np.broadcast_to(np.concatenate([inside, inside - 1e-9]),
                                                      (len(windows), 2 * len(inside)))], axis=1)  # [n, m] s
            shape = (*offsets.shape, self.spec.dof)
            ts = (t0 + offsets).reshape(-1)
            po, vo, ao = (x.reshape(shape) for x in old.evaluate(ts))
            pn, vn, an = (x.reshape(shape) for x in new.evaluate(ts))
            s = np.clip(offsets / windows[:, None], 0.0, 1.0)[..., None]
            _, v, a = blend((po, vo, ao), (pn, vn, an), *blend_weights(s, windows[:, None, None]))
            # Beyond the limit only where one of the two plans itself already is (that is theirs),
            # and then by at most _BLEND_SLACK of the limit (a join that starts while a plan is
            # at its limit adds a little however long it is).
            v_cap = np.maximum(self.max_velocity, np.maximum(np.abs(vo), np.abs(vn))) + _BLEND_SLACK * self.max_velocity
            a_cap = (np.maximum(self.max_acceleration, np.maximum(np.abs(ao), np.abs(an)))
                     + _BLEND_SLACK * self.max_acceleration)
            ok = np.all((np.abs(v) <= v_cap) & (np.abs(a) <= a_cap), axis=1)        # [n, D]
            if first + _WINDOW_BATCH >= tries:
                ok[-1] = True  # the longest, whatever it does
            found = np.any(ok, axis=0)
            chosen = np.where(np.isnan(chosen) & found, windows[np.argmax(ok, axis=0)], chosen)
            if not np.any(np.isnan(chosen)):
                return chosen
        raise AssertionError("unreachable: the last batch accepts the longest window")

    # ---- linear: the executor before real-time chunking ----------------------------------------
    def _join_linear(self, chunk: ActionChunk, now: float | None) -> None:
        times, points = chunk.times(), chunk.actions
        if now is not None:
            first = max(int(np.searchsorted(times, now, side="right")) - 1, 0)
            self.stats.past_points += first
            times, points = times[first:], points[first:]
        new = Polyline(times.copy(), points.copy())
        if self._trajectory is None or self.crossfade == 0.0:
            self._trajectory = new
            return
        t0 = chunk.start_time if now is None else max(chunk.start_time, now)
        self._trajectory = Crossfade(collapse(self._trajectory, t0), new, t0, t0 + self.crossfade)
        self.stats.merged += 1

    def _invalid_reason(self, chunk: Any) -> str:
        if not isinstance(chunk, ActionChunk):
            return f"expected an ActionChunk, got {type(chunk).__name__}"
        if chunk.dim != self.spec.dof:
            return f"chunk has {chunk.dim} dimensions, the robot has {self.spec.dof} ({', '.join(self.spec.joint_names)})"
        if not chunk.is_finite():
            return "chunk contains NaN or inf"
        return ""
