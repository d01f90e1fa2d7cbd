"""Differential inverse kinematics: an end-effector twist -> joint velocities, by damped least
squares on a pinocchio model, within joint position and velocity limits.

    qdot = J^T (J J^T + lambda^2 I)^-1 xi        xi = [v (m/s); w (rad/s)] at the tool point

J is the tool frame's Jacobian in LOCAL_WORLD_ALIGNED (the base frame's axes, at the tool
point), so a twist in the base frame needs no transport. Limits, in this order:

1. velocity: qdot is scaled down as a whole until every |qdot_i| <= max_velocity_i (the
   direction of motion is kept, only slower);
2. position: a joint whose step would cross its limit (shrunk by the margin) is saturated
   (it moves exactly to the bound) and taken out of the least-squares problem; the others
   re-solve for what remains of the twist (a few passes, as in saturation-in-the-null-space
   schemes), so the tool keeps moving along a limit where it can;
3. a final clip to both bounds: whatever the numerics, the result never leaves them.

Units: metres, radians, seconds. Not thread-safe (reuses pinocchio Data).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.teleop.model import ArmModel, _pin

MAX_SATURATION_PASSES = 3


class DifferentialIK:
    """lower/upper: joint position bounds (rad, already shrunk by any margin); max_velocity:
    rad/s per joint; damping: lambda (m) of the least squares."""

    def __init__(self, arm: ArmModel, lower: Sequence[float], upper: Sequence[float],
                 max_velocity: Sequence[float], damping: float = 0.02) -> None:
        self.pin = _pin()
        self.arm = arm
        self.model = arm.model
        self.data = self.model.createData()
        n = self.model.nv
        self.lower = np.asarray(lower, dtype=np.float64).reshape(n)
        self.upper = np.asarray(upper, dtype=np.float64).reshape(n)
        self.max_velocity = np.asarray(max_velocity, dtype=np.float64).reshape(n)
        if np.any(self.lower > self.upper) or np.any(self.max_velocity <= 0):
            raise ValueError("DifferentialIK: need lower <= upper and positive velocity limits")
        self.damping = float(damping)

    def tool_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position [3] m, rotation [3, 3]) of the tool frame in the base frame."""
        pin = self.pin
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=np.float64))
        placement = self.data.oMf[self.arm.tool_frame]
        return placement.translation.copy(), placement.rotation.copy()

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """[6, n]: d(tool position; tool angular velocity)/dq, base-frame axes at the tool point."""
        pin = self.pin
        q = np.asarray(q, dtype=np.float64)
        return pin.computeFrameJacobian(self.model, self.data, q, self.arm.tool_frame, pin.LOCAL_WORLD_ALIGNED)

    def velocity(self, q: np.ndarray, twist: np.ndarray, dt: float) -> np.ndarray:
        """Joint velocities (rad/s) for twist [v; w] (m/s, rad/s, base-frame axes) over dt s,
        within the velocity limits, and such that q + qdot * dt stays within [lower, upper]."""
        q = np.asarray(q, dtype=np.float64)
        xi = np.nan_to_num(np.asarray(twist, dtype=np.float64).reshape(6))
        J = self.jacobian(q)
        # bounds on this step's velocity: position limits reached in dt, and the velocity limits
        low = np.clip((self.lower - q) / dt, -self.max_velocity, self.max_velocity)
        high = np.clip((self.upper - q) / dt, -self.max_velocity, self.max_velocity)
        free = np.ones(q.shape[0], dtype=bool)
        qdot = np.zeros_like(q)
        for _ in range(MAX_SATURATION_PASSES + 1):
            rest = xi - J[:, ~free] @ qdot[~free]
            Jf = J[:, free]
            solved = Jf.T @ np.linalg.solve(Jf @ Jf.T + self.damping**2 * np.eye(6), rest)
            peak = np.max(np.abs(solved) / self.max_velocity[free], initial=0.0)
            if peak > 1.0:
                solved /= peak  # slower, same direction
            qdot[free] = solved
            over = free & ((qdot < low) | (qdot > high))
            if not over.any():
                break
            qdot[over] = np.clip(qdot[over], low[over], high[over])
            free &= ~over
            if not free.any():
                break
        return np.clip(qdot, low, high)
