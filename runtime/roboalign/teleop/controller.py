"""TeleopController: TeleopInput + measured joints -> the next joint target, at control rate.

Per step (dt s):
- deadman: an input whose stamp is older than deadman_s (or that never came) is no input;
- the target moves on from the last target (never jumps): there is no other base;
- twist -> joint velocities through DifferentialIK (limits and margins inside), joint targets
  (leader arm) -> the velocity that reaches them this step; no input -> zero;
- acceleration limit (acceleration_scale of the spec) on the change of joint velocity, then
  the velocity limit; each scales the whole vector (a per-joint clip would bend the tool's
  path while the joints ramp up at different rates);
- the lead limit: the whole velocity is scaled down (direction kept) so that no arm joint's
  target runs more than max_lead rad ahead of the measured joint in its direction of motion.
  The target never runs far ahead of an arm that lags, so the arm stops soon after the input
  does; this may brake harder than the acceleration limit (it only ever slows the target);
- the position limits with margins: the target never leaves them.

The first step (or one after reset()) starts from the measured joints: a teleop session that
starts with no input commands exactly where the arm is (a hold).
"""
from __future__ import annotations

import numpy as np

from roboalign.core.robot import RobotSpec
from roboalign.teleop.config import ControllerConfig
from roboalign.teleop.input import TeleopInput


class TeleopController:
    def __init__(self, spec: RobotSpec, config: ControllerConfig, ik=None) -> None:
        """ik: a DifferentialIK over spec's arm joints (needed for twist inputs only)."""
        self.spec = spec
        self.config = config
        lim = spec.limits
        margin = spec.margins(config.position_margin, config.gripper_margin)
        self.lower = lim.lower + margin
        self.upper = lim.upper - margin
        if np.any(self.lower > self.upper):
            raise ValueError("teleop position_margin leaves no room on some joint")
        self.max_velocity = lim.max_velocity * config.velocity_scale
        self.max_acceleration = lim.max_acceleration * config.acceleration_scale
        self.arm = np.array([i for i in range(spec.dof) if i != spec.gripper_index], dtype=int)
        self.ik = ik
        self.index = {name: i for i, name in enumerate(spec.joint_names)}
        self.target: np.ndarray | None = None
        self.velocity = np.zeros(spec.dof)
        self.active = False  # the last step had live input

    def reset(self, measured: np.ndarray | None = None) -> None:
        """Forget the target: the next step starts from `measured` (or the next measured joints)."""
        self.target = None if measured is None else np.clip(np.asarray(measured, dtype=np.float64), self.lower, self.upper)
        self.velocity = np.zeros(self.spec.dof)

    def step(self, inp: TeleopInput, measured: np.ndarray, now: float, dt: float) -> np.ndarray:
        """The next joint target [D] (rad; gripper units)."""
        cfg = self.config
        measured = np.asarray(measured, dtype=np.float64).reshape(self.spec.dof)
        if self.target is None:
            self.reset(measured)
        base = self.target
        arm = self.arm
        self.active = inp.stamp is not None and 0.0 <= now - inp.stamp <= cfg.deadman_s
        wanted = np.zeros(self.spec.dof)
        if self.active:
            if inp.twist is not None and not inp.twist.is_zero:
                wanted[arm] = self._twist_velocity(base[arm], inp, dt)
            if inp.joints:
                for name, value in inp.joints.items():
                    i = self.index.get(name)
                    if i is not None and np.isfinite(value):
                        wanted[i] = (np.clip(value, self.lower[i], self.upper[i]) - base[i]) / dt
            if self.spec.gripper_index is not None and inp.gripper:
                wanted[self.spec.gripper_index] = float(np.clip(inp.gripper, -1, 1)) * cfg.gripper_speed
        change = wanted - self.velocity
        velocity = self.velocity + change * _fraction(np.abs(change), self.max_acceleration * dt)
        velocity = velocity * _fraction(np.abs(velocity), self.max_velocity)
        velocity *= self._lead_scale(base[arm] - measured[arm], velocity[arm] * dt)
        target = np.clip(base + velocity * dt, self.lower, self.upper)
        self.velocity = (target - base) / dt
        self.target = target
        return target.copy()

    def _lead_scale(self, lead: np.ndarray, step: np.ndarray) -> float:
        """Largest fraction of `step` (rad) that keeps every joint's lead over the measured arm
        within max_lead in its direction of motion (a joint already beyond it may not go further)."""
        room = self.config.max_lead - np.sign(step) * lead  # rad still allowed along each joint's motion
        moving = np.abs(step) > 0
        if not moving.any():
            return 1.0
        fractions = np.clip(room[moving] / np.abs(step[moving]), 0.0, 1.0)
        return float(fractions.min())

    def _twist_velocity(self, q_arm: np.ndarray, inp: TeleopInput, dt: float) -> np.ndarray:
        if self.ik is None:
            raise ValueError("a twist input needs a kinematic model (TeleopController(ik=...))")
        v = inp.twist.linear * self.config.max_linear
        w = inp.twist.angular * self.config.max_angular
        if self.config.frame == "tool":
            rotation = self.ik.tool_pose(q_arm)[1]
            v, w = rotation @ v, rotation @ w
        return self.ik.velocity(q_arm, np.concatenate([v, w]), dt)


def _fraction(magnitude: np.ndarray, limit: np.ndarray) -> float:
    """Largest factor in [0, 1] that brings every magnitude within its limit."""
    over = magnitude > limit
    return float(np.min(limit[over] / magnitude[over])) if over.any() else 1.0


def build_controller(spec: RobotSpec, config: ControllerConfig, needs_ik: bool = True) -> TeleopController:
    """A controller for `spec`, with a DifferentialIK on its pinocchio model when needs_ik."""
    ik = None
    if needs_ik:
        from roboalign.teleop.ik import DifferentialIK
        from roboalign.teleop.model import arm_model

        arm = arm_model(spec)
        idx = [i for i in range(spec.dof) if i != spec.gripper_index]
        lim = spec.limits
        ik = DifferentialIK(arm, lim.lower[idx] + config.position_margin, lim.upper[idx] - config.position_margin,
                            lim.max_velocity[idx] * config.velocity_scale, damping=config.damping)
    return TeleopController(spec, config, ik)
