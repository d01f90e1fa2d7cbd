"""SafetyFilter: the software safety layer between every command source and the arm.

Pure Python, no ROS: the safety node is wiring around this class, and tests drive it directly
with any input sequence. It enforces the safety contract of shared/DESIGN.md:

- non-finite values or a wrong joint count are rejected; the filter keeps tracking the last
  safe (accepted) target;
- targets are clamped to the position limits shrunk by a margin;
- the output moves per joint with |velocity| <= v_max and |velocity change| <= a_max * dt,
  where dt = min(time since the previous call, control period); an optional jerk limit
  shapes the acceleration wherever those hard limits leave room (best effort: at the velocity
  limit or on the braking curve the hard limits win, so acceleration may drop faster);
- the output never leaves the position band: it always keeps enough room to brake at a_max
  before a limit (invariant q + v|v| / (2 a_max) inside the band), so position, velocity and
  acceleration limits hold together at every step, whatever the call timing (the price: a
  stream that stops exactly on a limit is braked about v*dt early);
- optional Cartesian workspace (an axis-aligned box and/or a table plane for the tool point,
  through forward kinematics, roboalign.control.workspace): a target whose tool point lies
  outside is cut back along the joint segment from the current output to the last point
  inside (state WORKSPACE), so the output approaches the boundary on its braking curve; and
  every output step is checked too: a step that would take the tool point out is cut back the
  same way, so the output's tool point never leaves the workspace. That last guard is a wall,
  not a braking curve (the step stops short, velocity drops at once: the acceleration limit
  yields to the wall); the target clamp keeps it for paths that bulge out between two points
  inside. An output that starts outside (initialised there) may only move so that it gets no
  further out;
- watchdog on the caller's monotonic clock: no valid command for `watchdog_timeout` seconds
  -> the target is dropped, the output decelerates to a stop and holds there; only a command
  given to filter() after that moment moves it again, an older one is never replayed;
- latched e-stop: `estop()` makes the output stop (decelerating at the acceleration limit,
  so the stop itself obeys the limits; then no motion at all) and ignore every command until
  `reset()`. `reset()` clears the latch but drops the target too, so the arm stays still
  until a command arrives in a later filter() call: a reset alone never resumes motion.

Speed: the per-joint arithmetic runs on plain Python floats (for D <= ~10 joints numpy's
per-call overhead dominated: ~120-220 us per 7-joint command with small arrays, ~15-25 us
now); benchmarks/control/bench_safety.py measures it against the previous implementation,
tests/control/test_safety_equivalence.py pins identical outputs.

Units: rad, rad/s, rad/s^2 (the gripper in its RobotSpec unit), seconds, metres (workspace).
"""
from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import numpy as np

from roboalign.control.workspace import Workspace
from roboalign.core.kinematics import Kinematics
from roboalign.core.robot import RobotSpec


class SafetyState(str, enum.Enum):
    """What the filter did with one control step."""

    OK = "ok"                # command accepted and passed on unchanged
    LIMITED = "limited"      # command accepted, output smoothed by velocity/acceleration limits
    CLAMPED = "clamped"      # command accepted, target was outside the position band
    WORKSPACE = "workspace"  # command accepted, target or output step cut back at the Cartesian workspace
    REJECTED = "rejected"    # command invalid (NaN/inf, wrong size): still tracking the last safe one
    HOLD = "hold"            # no valid target (none yet, watchdog fired, after reset): stopping/still
    ESTOPPED = "estopped"    # e-stop latched: stopping/still until reset()


INF = math.inf
NO_BOX_MIN = (-INF, -INF, -INF)
NO_BOX_MAX = (INF, INF, INF)


def _point(value: Any, name: str, unbounded: tuple[float, float, float]) -> list[float]:
    if value is None:
        return list(unbounded)
    try:
        point = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"SafetyConfig.{name} must be [x, y, z] in metres, got {value!r}") from None
    if len(point) != 3 or any(math.isnan(v) for v in point):
        raise ValueError(f"SafetyConfig.{name} must be 3 numbers [x, y, z] (m), got {value!r}")
    return point


@dataclasses.dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety filter. Every joint limit is a fraction of the RobotSpec's own
    limits, so a config can only make the arm more conservative than its datasheet."""

    position_margin: float = 0.02          # rad kept clear of each arm joint's limits
    gripper_margin: float = 0.0            # gripper units kept clear of the gripper's limits
    velocity_scale: float = 1.0            # fraction of spec max_velocity, (0, 1]
    acceleration_scale: float = 1.0        # fraction of spec max_acceleration, (0, 1]
    jerk_scale: float | None = None        # fraction of spec max_jerk; None = no jerk limit
    watchdog_timeout: float = 0.25         # s without a valid command before stopping
    stale_deceleration_scale: float = 1.0  # fraction of the accel limit used to stop when stale
    control_period: float | None = None    # s; None = spec.control_period
    # Cartesian workspace of the tool point, in the arm's base frame (m). Infinite bounds are no
    # bounds (the defaults: no workspace check; null reads as these defaults too). Any finite
    # bound needs forward kinematics (SafetyFilter's `kinematics`). Lists, as YAML and ROS
    # parameters give them (a list field leaves the config unhashable: nothing hashes it).
    workspace_min: list[float] = dataclasses.field(default_factory=lambda: list(NO_BOX_MIN))  # lowest x, y, z
    workspace_max: list[float] = dataclasses.field(default_factory=lambda: list(NO_BOX_MAX))  # highest x, y, z
    table_height: float = -INF             # the tool point never goes below this z

    def __post_init__(self) -> None:
        for name in ("velocity_scale", "acceleration_scale", "stale_deceleration_scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0.0 < value <= 1.0):
                raise ValueError(f"SafetyConfig.{name} must be in (0, 1], got {value}")
        if self.jerk_scale is not None and not (np.isfinite(self.jerk_scale) and 0.0 < self.jerk_scale <= 1.0):
            raise ValueError(f"SafetyConfig.jerk_scale must be in (0, 1] or null, got {self.jerk_scale}")
        for name in ("position_margin", "gripper_margin"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"SafetyConfig.{name} must be >= 0, got {value}")
        if not (np.isfinite(self.watchdog_timeout) and self.watchdog_timeout > 0.0):
            raise ValueError(f"SafetyConfig.watchdog_timeout must be > 0 s, got {self.watchdog_timeout}")
        if self.control_period is not None and not (np.isfinite(self.control_period) and self.control_period > 0):
            raise ValueError(f"SafetyConfig.control_period must be > 0 s or null, got {self.control_period}")
        low = _point(self.workspace_min, "workspace_min", NO_BOX_MIN)
        high = _point(self.workspace_max, "workspace_max", NO_BOX_MAX)
        object.__setattr__(self, "workspace_min", low)
        object.__setattr__(self, "workspace_max", high)
        if not all(a < b for a, b in zip(low, high)):
            raise ValueError(f"SafetyConfig: workspace_min {list(low)} must be below workspace_max {list(high)} on x, y, z")
        table = -INF if self.table_height is None else float(self.table_height)
        if math.isnan(table) or table == INF:
            raise ValueError(f"SafetyConfig.table_height must be a z in metres (-inf = no table), got {self.table_height}")
        object.__setattr__(self, "table_height", table)

    @property
    def has_box(self) -> bool:
        return any(math.isfinite(v) for v in self.workspace_min + self.workspace_max)

    @property
    def has_workspace(self) -> bool:
        """Whether any workspace bound is finite (then the filter needs forward kinematics)."""
        return self.has_box or math.isfinite(self.table_height)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SafetyConfig:
        """Build from a YAML mapping; unknown keys are an error (a typo must not drop a limit)."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown safety config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SafetyDecision:
    """Result of one filter() call. `command` is None only before initialize()."""

    command: np.ndarray | None
    state: SafetyState
    reasons: tuple[str, ...] = ()
    velocity: np.ndarray | None = None  # rad/s of the output, per joint
    deviation: float = 0.0              # max |output - accepted target| over joints (rad) when tracking


class SafetyFilter:
    """Turns any stream of commands into a stream that respects the robot's limits.

    Call `initialize(measured_positions)` once the arm's joints are known, then
    `filter(command_or_None, now)` once per control step (now: monotonic seconds). `None`
    means "no new command this step": the filter keeps tracking the last accepted target
    until the watchdog fires. Not thread-safe: call it from one thread (the control loop).

    kinematics: forward kinematics of the tool point (roboalign.robots.kinematics_for(spec));
    required when the config sets a workspace box or table height, unused otherwise.
    """

    def __init__(self, spec: RobotSpec, config: SafetyConfig | None = None,
                 kinematics: Kinematics | None = None) -> None:
        self.spec = spec
        self.config = config or SafetyConfig()
        cfg = self.config
        lim = spec.limits
        margin = spec.margins(cfg.position_margin, cfg.gripper_margin)
        self.lower = lim.lower + margin
        self.upper = lim.upper - margin
        if np.any(self.lower >= self.upper):
            bad = [spec.joint_names[i] for i in np.flatnonzero(self.lower >= self.upper)]
            raise ValueError(f"safety margins leave no room on joints {bad}: lower the position margin")
        self.max_velocity = lim.max_velocity * cfg.velocity_scale
        self.max_acceleration = lim.max_acceleration * cfg.acceleration_scale
        self.max_jerk = None
        if cfg.jerk_scale is not None:
            if lim.max_jerk is None:
                raise ValueError("SafetyConfig.jerk_scale is set but the RobotSpec has no max_jerk")
            self.max_jerk = lim.max_jerk * cfg.jerk_scale
        self.period = float(cfg.control_period or spec.control_period)
        self.workspace = self._make_workspace(kinematics) if cfg.has_workspace else None
        self.counts: dict[str, int] = {s.value: 0 for s in SafetyState}
        self.counts["watchdog_trips"] = 0
        # The same limits as plain float lists: the per-joint loops below run on them.
        self._n = spec.dof
        self._lo, self._hi = self.lower.tolist(), self.upper.tolist()
        self._vmax, self._amax = self.max_velocity.tolist(), self.max_acceleration.tolist()
        self._jmax = None if self.max_jerk is None else self.max_jerk.tolist()
        self._zeros = [0.0] * spec.dof
        self._q: list[float] | None = None    # last output, rad
        self._v = list(self._zeros)           # last output velocity, rad/s
        self._a = list(self._zeros)           # last output acceleration, rad/s^2 (for jerk)
        self._target: list[float] | None = None
        self._target_velocity = list(self._zeros)  # rad/s of the command stream
        self._violation = 0.0                 # m the output's tool point lies outside the workspace
        self._walled = False                  # this step's output was cut back at the workspace
        self._last_command_time = -math.inf
        self._last_now: float | None = None
        self._estopped = False

    def _make_workspace(self, kinematics: Kinematics | None) -> Workspace:
        cfg = self.config
        if kinematics is None:
            raise ValueError("SafetyConfig sets a workspace (box or table height) but no kinematics was given: "
                             "pass kinematics=roboalign.robots.kinematics_for(spec)")
        missing = [n for n in kinematics.joint_names if n not in self.spec.joint_names]
        if missing:
            raise ValueError(f"kinematics joints {missing} are not joints of robot {self.spec.name!r} "
                             f"{list(self.spec.joint_names)}")
        index = [self.spec.joint_names.index(n) for n in kinematics.joint_names]
        box = (cfg.workspace_min, cfg.workspace_max) if cfg.has_box else (None, None)
        table = cfg.table_height if math.isfinite(cfg.table_height) else None
        return Workspace(kinematics, index, *box, table)

    # ---- lifecycle -------------------------------------------------------------------
    def initialize(self, current_positions: np.ndarray) -> None:
        """Start from the measured joints at rest (the output never jumps away from them).

        Drops any target: the arm stays still until the next command. A measurement outside
        the margin band (or the workspace) is accepted as is; from there the output only moves
        back inwards (or no further out).
        """
        q = np.asarray(current_positions, dtype=np.float64).reshape(-1)
        if q.shape[0] != self.spec.dof or not np.all(np.isfinite(q)):
            raise ValueError(
                f"SafetyFilter.initialize needs {self.spec.dof} finite measured positions, got {q.tolist()}"
            )
        self._q = q.tolist()
        self._v = list(self._zeros)
        self._a = list(self._zeros)
        self._target = None
        self._violation = 0.0 if self.workspace is None else self.workspace.violation(self._q)

    def estop(self) -> None:
        """Latch the e-stop: stop now, ignore every command until reset()."""
        self._estopped = True
        self._target = None

    def reset(self) -> None:
        """Clear the e-stop latch. The target stays empty, so motion resumes only with a
        command given to a later filter() call, never by the reset itself."""
        self._estopped = False
        self._target = None

    @property
    def estopped(self) -> bool:
        return self._estopped

    @property
    def output(self) -> np.ndarray | None:
        return None if self._q is None else np.array(self._q)

    # ---- one control step ------------------------------------------------------------
    def filter(self, command: np.ndarray | None, now: float, rejected_reason: str | None = None) -> SafetyDecision:
        """One control step: validate `command` (None = no new command), advance the output.

        rejected_reason: the caller already found this step's command invalid (e.g. a message
        whose joint names do not match); it is handled exactly like a rejected command."""
        try:
            now = float(now)
        except (TypeError, ValueError):
            now = math.nan
        reasons: list[str] = []
        if not math.isfinite(now):
            reasons.append("non-finite clock value: no time advanced")
            now = self._last_now if self._last_now is not None else 0.0
        # dt never exceeds the control period, so a late call never makes a bigger step.
        if self._last_now is None:
            dt = self.period
            self._last_now = now
        else:
            gap = now - self._last_now
            dt = self.period if gap > self.period else (gap if gap > 0.0 else 0.0)
            if now > self._last_now:
                self._last_now = now
        if dt < 1e-9:
            dt = 0.0  # sub-nanosecond steps move nothing (and would overflow err / dt)
        if self._q is None:
            self.counts[SafetyState.HOLD.value] += 1
            return SafetyDecision(None, SafetyState.HOLD, ("not initialised: call initialize() with the measured joints",))

        rejected = fresh = clamped_now = walled_target = False
        self._walled = False  # set by _apply when the workspace cut this step's output short
        if command is not None or rejected_reason is not None:
            target, why = (None, rejected_reason) if rejected_reason is not None else self._validate(command)
            if target is None:
                rejected = True
                reasons.append(f"command rejected: {why}; holding the last safe command")
            elif self._estopped:
                reasons.append("command ignored: e-stop latched (call reset, then send a fresh command)")
            else:
                clamped = [h if x > h else (lo if x < lo else x) for x, lo, h in zip(target, self._lo, self._hi)]
                if clamped != target:
                    moved = [i for i, (c, x) in enumerate(zip(clamped, target)) if c != x]
                    clamped_now = True
                    reasons.append("target clamped to position limits on " + self._names(moved))
                if self.workspace is not None:
                    clamped, walled_target = self._clamp_to_workspace(clamped, reasons)
                # How fast the command stream moves (rad/s): a command is followed exactly only
                # if the output could then keep pace with it, so a step never ends in overshoot.
                if self._target is not None:
                    gap = max(now - self._last_command_time, self.period)
                    self._target_velocity = [(c - p) / gap for c, p in zip(clamped, self._target)]
                else:
                    self._target_velocity = list(self._zeros)
                self._target = clamped
                self._last_command_time = now
                fresh = True
        if self._target is not None and now - self._last_command_time > self.config.watchdog_timeout:
            self._target = None
            self.counts["watchdog_trips"] += 1
            reasons.append(f"watchdog: no valid command for {self.config.watchdog_timeout:.3f} s; stopping")

        deviation = 0.0
        if self._estopped:
            state = SafetyState.ESTOPPED
            self._step_stop(dt, 1.0)
        elif self._target is None:
            state = SafetyState.REJECTED if rejected else SafetyState.HOLD
            self._step_stop(dt, self.config.stale_deceleration_scale)
        else:
            limited = self._step_track(dt, self._target_velocity if fresh else self._zeros)
            if limited:
                reasons.append(limited)
            deviation = max(abs(q - t) for q, t in zip(self._q, self._target))
            if rejected:
                state = SafetyState.REJECTED
            elif self._walled or walled_target:
                state = SafetyState.WORKSPACE
            elif clamped_now:
                state = SafetyState.CLAMPED
            elif deviation > 1e-9 or limited:
                state = SafetyState.LIMITED
            else:
                state = SafetyState.OK
        if self._walled:
            x, y, z = self.workspace.last_position
            reasons.append(f"workspace: output step stopped at the boundary ({self.workspace.describe()}), "
                           f"tool at ({x:.3f}, {y:.3f}, {z:.3f}) m")
        self.counts[state.value] += 1
        return SafetyDecision(np.array(self._q), state, tuple(reasons), np.array(self._v), deviation)

    # ---- internals -------------------------------------------------------------------
    def _validate(self, command: Any) -> tuple[list[float] | None, str]:
        try:
            values = np.asarray(command, dtype=np.float64).reshape(-1).tolist()
        except (TypeError, ValueError):
            return None, f"not a numeric array ({type(command).__name__})"
        if len(values) != self._n:
            return None, f"{len(values)} values, expected {self._n} ({', '.join(self.spec.joint_names)})"
        total = sum(values)
        if total - total != 0.0:  # some value is NaN or inf (or the sum overflowed): look closer
            bad = [i for i, x in enumerate(values) if not math.isfinite(x)]
            if bad:
                return None, "non-finite values on " + self._names(bad)
        return values, ""

    def _names(self, idx: list[int]) -> str:
        return ", ".join(self.spec.joint_names[i] for i in idx)

    def _clamp_to_workspace(self, target: list[float], reasons: list[str]) -> tuple[list[float], bool]:
        """(`target` cut back along the segment from the current output to the last point whose
        tool point is inside the workspace (or, from an output outside, no further out), whether
        it was cut)."""
        ws = self.workspace
        if ws.violation(target) <= self._violation:
            return target, False
        x, y, z = ws.last_position
        safe, _ = ws.last_safe(self._q, target, self._violation)
        reasons.append(f"target clamped to the workspace ({ws.describe()}): its tool point "
                       f"({x:.3f}, {y:.3f}, {z:.3f}) m is outside")
        return safe, True

    def _step_stop(self, dt: float, decel_scale: float) -> None:
        if dt <= 0.0:
            return  # no time passed: nothing can move, the velocity stays as it was
        desired = []
        for v, a in zip(self._v, self._amax):
            decel = a * decel_scale * dt
            low, high = v - decel, v + decel
            desired.append(high if 0.0 > high else (low if 0.0 < low else 0.0))  # clip(0, low, high)
        self._apply(desired, dt, None)

    def _step_track(self, dt: float, target_velocity: list[float]) -> str:
        """Move towards the target; returns a reason when a limit changed the motion.

        target_velocity: rad/s of the command stream (0 on a step with no new command).

        Per joint: follow exactly only where the acceleration limit allows it now AND the next
        step can match the stream's own velocity u. Elsewhere close the gap along the braking
        curve in the frame moving with the stream: a stationary target is approached without
        overshoot or ringing, a moving one is caught up with instead of trailed at a constant
        lag. gap: how far the output trails where the stream was one step ago (err minus the
        stream's own motion during this step); closing it exactly gives v = err / dt.
        """
        if dt <= 0.0:
            return ""
        jerk = self._jmax
        dt2 = dt * dt
        desired = []
        limited = []
        for i, (q, v, t, tv, a, vm) in enumerate(zip(self._q, self._v, self._target, target_velocity,
                                                     self._amax, self._vmax)):
            u = vm if tv > vm else (-vm if tv < -vm else tv)
            err = t - q
            exact = err / dt
            gap = err - u * dt
            dist = abs(gap)
            adt = a * dt + 1e-12
            reachable = abs(exact - v) <= adt and abs(exact - u) <= adt
            if reachable:
                want = exact
            else:
                brake = a * (-dt + math.sqrt(dt2 + 2.0 * dist / a))
                step = dist / dt
                if brake < step:
                    step = brake
                want = u + step if gap > 0.0 else (u - step if gap < 0.0 else u)
            if jerk is not None:
                jd = jerk[i] * dt
                low_j, high_j = v + (self._a[i] - jd) * dt, v + (self._a[i] + jd) * dt
                want = high_j if want > high_j else (low_j if want < low_j else want)
            desired.append(want)
            if not reachable:
                limited.append(i)
        self._apply(desired, dt, limited)
        if limited:
            return "velocity/acceleration limited on " + self._names(sorted(set(limited)))
        return ""

    def _apply(self, desired: list[float], dt: float, limited: list[int] | None) -> None:
        """Advance the output by the velocities `desired`, each cut to its hard window (the
        velocities the velocity, acceleration and position limits allow this step); then the
        workspace guard. limited: collects the joints whose desired velocity left the window.

        The position part of the window keeps q' + v'|v'| / (2 a) inside the band (room to
        brake at a). If the previous step kept that invariant, v - a dt always satisfies it, so
        the window is never empty (up to rounding; then position wins: high is applied last).
        """
        dt2 = dt * dt
        q_new, v_new = [], []
        for i, (q, v, want, a, vm, lo, hi) in enumerate(zip(self._q, self._v, desired, self._amax, self._vmax,
                                                            self._lo, self._hi)):
            room_up = hi - q
            room_down = q - lo
            cap_up = a * (-dt + math.sqrt(dt2 + 2.0 * (room_up if room_up > 0.0 else 0.0) / a))
            cap_down = a * (-dt + math.sqrt(dt2 + 2.0 * (room_down if room_down > 0.0 else 0.0) / a))
            adt = a * dt
            low = v - adt
            if -vm > low:
                low = -vm
            if -cap_down > low:
                low = -cap_down
            high = v + adt
            if vm < high:
                high = vm
            if cap_up < high:
                high = cap_up
            if limited is not None and (want < low - 1e-12 or want > high + 1e-12):
                limited.append(i)
            vn = want if want > low else low
            if vn > high:
                vn = high
            qn = q + vn * dt
            if lo <= q <= hi and (qn < lo or qn > hi):  # rounding only: the window keeps the band
                qn = hi if qn > hi else lo
                vn = (qn - q) / dt
            q_new.append(qn)
            v_new.append(vn)
        if self.workspace is not None and q_new != self._q:
            q_new, v_new = self._guard_workspace(q_new, v_new, dt)
        self._a = [(vn - v) / dt for vn, v in zip(v_new, self._v)]
        if self._walled:
            self._a = list(self._zeros)  # the wall took the step's acceleration: jerk restarts from rest
        self._q, self._v = q_new, v_new

    def _guard_workspace(self, q_new: list[float], v_new: list[float], dt: float) -> tuple[list, list]:
        """Cut an output step whose tool point would leave the workspace (or get further out)
        back to the last point of the step that does not; velocities follow the cut step."""
        ws = self.workspace
        violation = ws.violation(q_new)
        if violation <= self._violation:
            self._violation = violation
            return q_new, v_new
        q_cut, self._violation = ws.last_safe(self._q, q_new, self._violation)
        self._walled = True
        return q_cut, [(qn - q) / dt for qn, q in zip(q_cut, self._q)]
