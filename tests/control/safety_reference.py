"""The safety filter as it was before issue 15 (numpy per call, ~120-220 us per 7-joint command),
kept verbatim as the baseline: tests/control/test_safety_equivalence.py checks that the fast
roboalign.control.safety.SafetyFilter gives the same outputs (workspace off), and
benchmarks/control/bench_safety.py times both side by side. Not used anywhere else.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from roboalign.control.safety import SafetyConfig, SafetyDecision, SafetyState
from roboalign.core.robot import RobotSpec


class ReferenceSafetyFilter:
    """Turns any stream of commands into a stream that respects the robot's limits.

    Call `initialize(measured_positions)` once the arm's joints are known, then
    `filter(command_or_None, now)` once per control step (now: monotonic seconds). `None`
    means "no new command this step": the filter keeps tracking the last accepted target
    until the watchdog fires. Not thread-safe: call it from one thread (the control loop).
    """

    def __init__(self, spec: RobotSpec, config: SafetyConfig | None = None) -> None:
        self.spec = spec
        self.config = config or SafetyConfig()
        cfg = self.config
        lim = spec.limits
        margin = np.full(spec.dof, cfg.position_margin)
        if spec.gripper_index is not None:
            margin[spec.gripper_index] = cfg.gripper_margin
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
        self.counts: dict[str, int] = {s.value: 0 for s in SafetyState}
        self.counts["watchdog_trips"] = 0
        self._q: np.ndarray | None = None     # last output, rad
        self._v = np.zeros(spec.dof)          # last output velocity, rad/s
        self._a = np.zeros(spec.dof)          # last output acceleration, rad/s^2 (for jerk)
        self._target: np.ndarray | None = None
        self._target_velocity = np.zeros(spec.dof)  # rad/s of the command stream
        self._last_command_time = -np.inf
        self._last_now: float | None = None
        self._estopped = False

    # ---- lifecycle -------------------------------------------------------------------
    def initialize(self, current_positions: np.ndarray) -> None:
        """Start from the measured joints at rest (the output never jumps away from them).

        Drops any target: the arm stays still until the next command. A measurement outside
        the margin band is accepted as is; from there the output only moves back inwards.
        """
        q = np.asarray(current_positions, dtype=np.float64).reshape(-1)
        if q.shape[0] != self.spec.dof or not np.all(np.isfinite(q)):
            raise ValueError(
                f"SafetyFilter.initialize needs {self.spec.dof} finite measured positions, got {q.tolist()}"
            )
        self._q = q.copy()
        self._v = np.zeros(self.spec.dof)
        self._a = np.zeros(self.spec.dof)
        self._target = None

    @property
    def initialized(self) -> bool:
        return self._q is not None

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
        return None if self._q is None else self._q.copy()

    # ---- one control step ------------------------------------------------------------
    def filter(self, command: np.ndarray | None, now: float, rejected_reason: str | None = None) -> SafetyDecision:
        """One control step: validate `command` (None = no new command), advance the output.

        rejected_reason: the caller already found this step's command invalid (e.g. a message
        whose joint names do not match); it is handled exactly like a rejected command."""
        try:
            now = float(now)
        except (TypeError, ValueError):
            now = float("nan")
        reasons: list[str] = []
        if not np.isfinite(now):
            reasons.append("non-finite clock value: no time advanced")
            now = self._last_now if self._last_now is not None else 0.0
        # dt never exceeds the control period, so a late call never makes a bigger step.
        dt = self.period if self._last_now is None else float(np.clip(now - self._last_now, 0.0, self.period))
        if dt < 1e-9:
            dt = 0.0  # sub-nanosecond steps move nothing (and would overflow err / dt)
        self._last_now = now if self._last_now is None else max(self._last_now, now)
        if self._q is None:
            self.counts[SafetyState.HOLD.value] += 1
            return SafetyDecision(None, SafetyState.HOLD, ("not initialised: call initialize() with the measured joints",))

        rejected = fresh = clamped_now = False
        if command is not None or rejected_reason is not None:
            target, why = (None, rejected_reason) if rejected_reason is not None else self._validate(command)
            if target is None:
                rejected = True
                reasons.append(f"command rejected: {why}; holding the last safe command")
            elif self._estopped:
                reasons.append("command ignored: e-stop latched (call reset, then send a fresh command)")
            else:
                clamped = np.clip(target, self.lower, self.upper)
                moved = np.flatnonzero(clamped != target)
                if moved.size:
                    clamped_now = True
                    reasons.append("target clamped to position limits on " + self._names(moved))
                # How fast the command stream moves (rad/s): a command is followed exactly only
                # if the output could then keep pace with it, so a step never ends in overshoot.
                if self._target is not None:
                    gap = max(now - self._last_command_time, self.period)
                    self._target_velocity = (clamped - self._target) / gap
                else:
                    self._target_velocity = np.zeros(self.spec.dof)
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
            limited = self._step_track(dt, self._target_velocity if fresh else np.zeros(self.spec.dof))
            if limited:
                reasons.append(limited)
            deviation = float(np.max(np.abs(self._q - self._target)))
            if rejected:
                state = SafetyState.REJECTED
            elif clamped_now:
                state = SafetyState.CLAMPED
            elif deviation > 1e-9 or limited:
                state = SafetyState.LIMITED
            else:
                state = SafetyState.OK
        self.counts[state.value] += 1
        return SafetyDecision(self._q.copy(), state, tuple(reasons), self._v.copy(), deviation)

    # ---- internals -------------------------------------------------------------------
    def _validate(self, command: Any) -> tuple[np.ndarray | None, str]:
        try:
            arr = np.asarray(command, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return None, f"not a numeric array ({type(command).__name__})"
        if arr.shape[0] != self.spec.dof:
            return None, f"{arr.shape[0]} values, expected {self.spec.dof} ({', '.join(self.spec.joint_names)})"
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            return None, "non-finite values on " + self._names(bad)
        return arr, ""

    def _names(self, idx: np.ndarray) -> str:
        return ", ".join(self.spec.joint_names[i] for i in idx)

    def _hard_window(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Velocities allowed this step by the velocity, acceleration and position limits.

        The position part keeps q' + v'|v'| / (2 a) inside the band (room to brake at a).
        If the previous step kept that invariant, v - a dt always satisfies it, so the window
        is never empty (up to rounding; then position wins, see _apply).
        """
        a = self.max_acceleration
        room_up = np.maximum(self.upper - self._q, 0.0)
        room_down = np.maximum(self._q - self.lower, 0.0)
        cap_up = a * (-dt + np.sqrt(dt * dt + 2.0 * room_up / a))
        cap_down = a * (-dt + np.sqrt(dt * dt + 2.0 * room_down / a))
        low = np.maximum.reduce([self._v - a * dt, -self.max_velocity, -cap_down])
        high = np.minimum.reduce([self._v + a * dt, self.max_velocity, cap_up])
        return low, high

    def _apply(self, v_new: np.ndarray, dt: float) -> None:
        low, high = self._hard_window(dt)
        v_new = np.minimum(np.maximum(v_new, low), high)  # high wins if rounding emptied the window
        if dt <= 0.0:
            return  # no time passed: nothing can move, the velocity stays as it was
        q_new = self._q + v_new * dt
        inside = (self._q >= self.lower) & (self._q <= self.upper)
        clipped = inside & ((q_new < self.lower) | (q_new > self.upper))
        if np.any(clipped):  # rounding only: the window above already keeps the band
            q_new = np.where(clipped, np.clip(q_new, self.lower, self.upper), q_new)
            v_new = np.where(clipped, (q_new - self._q) / dt, v_new)
        self._a = (v_new - self._v) / dt
        self._q, self._v = q_new, v_new

    def _step_stop(self, dt: float, decel_scale: float) -> None:
        decel = self.max_acceleration * decel_scale * dt
        self._apply(np.clip(0.0, self._v - decel, self._v + decel), dt)

    def _step_track(self, dt: float, target_velocity: np.ndarray) -> str:
        """Move towards the target; returns a reason when a limit changed the motion.

        target_velocity: rad/s of the command stream (0 on a step with no new command).
        """
        if dt <= 0.0:
            return ""
        a = self.max_acceleration
        u = np.clip(target_velocity, -self.max_velocity, self.max_velocity)
        err = self._target - self._q
        exact = err / dt  # reach the target this step
        # Follow exactly only where the acceleration limit allows it now AND the next step can
        # match the stream's own velocity u. Elsewhere close the gap along the braking curve in
        # the frame moving with the stream: a stationary target is approached without overshoot
        # or ringing, a moving one is caught up with instead of trailed at a constant lag.
        # gap: how far the output trails where the stream was one step ago (err minus the
        # stream's own motion during this step); closing it exactly gives v = err / dt.
        gap = err - u * dt
        dist = np.abs(gap)
        brake = a * (-dt + np.sqrt(dt * dt + 2.0 * dist / a))
        reachable = (np.abs(exact - self._v) <= a * dt + 1e-12) & (np.abs(exact - u) <= a * dt + 1e-12)
        desired = np.where(reachable, exact, u + np.sign(gap) * np.minimum(dist / dt, brake))
        if self.max_jerk is not None:
            jd = self.max_jerk * dt
            desired = np.clip(desired, self._v + (self._a - jd) * dt, self._v + (self._a + jd) * dt)
        low, high = self._hard_window(dt)
        limited = np.flatnonzero((desired < low - 1e-12) | (desired > high + 1e-12) | ~reachable)
        self._apply(desired, dt)
        if limited.size:
            return "velocity/acceleration limited on " + self._names(limited)
        return ""
