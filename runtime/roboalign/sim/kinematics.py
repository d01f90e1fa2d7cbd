"""Forward and inverse kinematics of the sim arm's tool centre point, on a private MuJoCo model.

IK is damped least squares (Levenberg-Marquardt step) on the 6x6 site Jacobian from mj_jacSite:
dq = J^T (J J^T + lambda^2 I)^-1 e, with e = [position error (m); orientation error (rad)].
Warm-started from a nearby solution it converges in one or two iterations, which is what the
scripted expert needs along a densely sampled path.

SimToolKinematics: the same FK behind the core.Kinematics interface (what the safety filter's
Cartesian workspace check reads), for SimArm.kinematics() and roboalign.robots.kinematics_for.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.core.kinematics import Kinematics
from roboalign.sim.gl import configure_gl

configure_gl()
import mujoco  # noqa: E402

from roboalign.sim.arm import ARM_JOINTS, load_model  # noqa: E402


def tool_down_rotation(heading: float) -> np.ndarray:
    """World rotation of a tool pointing straight down whose x axis points along `heading` (rad)."""
    c, s = np.cos(heading), np.sin(heading)
    # columns: x = (c, s, 0), z = (0, 0, -1), y = z cross x = (s, -c, 0)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


class ArmKinematics:
    """FK/IK for joints joint1..joint6 (rad) and the "tcp" site (world metres)."""

    def __init__(self, damping: float = 0.02, rotation_weight: float = 0.3) -> None:
        self.model = load_model()
        self.data = mujoco.MjData(self.model)
        m = self.model
        ids = [m.joint(n).id for n in ARM_JOINTS]
        self._qadr = np.array([m.jnt_qposadr[i] for i in ids])
        self._dadr = np.array([m.jnt_dofadr[i] for i in ids])
        self.lower = np.array([m.jnt_range[i, 0] for i in ids])
        self.upper = np.array([m.jnt_range[i, 1] for i in ids])
        self._site = m.site("tcp").id
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self.damping = damping
        # Orientation error is weighted below position error: 1 rad counts like 0.3 m.
        self.rotation_weight = rotation_weight

    def _update(self, q: np.ndarray) -> None:
        self.data.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, self.data)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position [3] m, rotation [3, 3]) of the tcp for joints q[:6]."""
        self._update(np.asarray(q, dtype=np.float64)[:6])
        return self.data.site_xpos[self._site].copy(), self.data.site_xmat[self._site].reshape(3, 3).copy()

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """[6, 6]: d(tcp position; tcp angular velocity) / d(joint1..6)."""
        self._update(np.asarray(q, dtype=np.float64)[:6])
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
        return np.vstack([self._jacp[:, self._dadr], self._jacr[:, self._dadr]])

    def solve(
        self, q_init: np.ndarray, position: np.ndarray, rotation: np.ndarray, iterations: int = 2,
        margin: float = 0.02,
    ) -> tuple[np.ndarray, float]:
        """Joints reaching (position, rotation) from q_init; returns (q [6], position error m).

        Solutions are clipped to the joint ranges shrunk by `margin` rad.
        """
        q = np.asarray(q_init, dtype=np.float64)[:6].copy()
        reg = self.damping**2 * np.eye(6)
        w = self.rotation_weight
        J = np.empty((6, 6))
        lo, hi = self.lower + margin, self.upper - margin
        err_p = np.inf
        for _ in range(iterations):
            self._update(q)
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
            R = self.data.site_xmat[self._site].reshape(3, 3)
            e_p = position - self.data.site_xpos[self._site]
            # Orientation error (rad): 0.5 * sum_i R[:, i] x D[:, i] = 0.5 * vee(D R^T - R D^T).
            M = rotation @ R.T
            e_r = 0.5 * np.array([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1]])
            J[:3] = self._jacp[:, self._dadr]
            J[3:] = w * self._jacr[:, self._dadr]
            e = np.concatenate([e_p, w * e_r])
            dq = J.T @ np.linalg.solve(J @ J.T + reg, e)
            q = np.clip(q + dq, lo, hi)
        self._update(q)
        err_p = float(np.linalg.norm(position - self.data.site_xpos[self._site]))
        return q, err_p


class SimToolKinematics(Kinematics):
    """FK of the sim arm's tool point for joints joint1..joint6 (rad), on a private MjData.

    The tool point is the "tcp" site (between the fingertips) plus `tool_offset` (m) in the
    site's frame. Frame: MuJoCo world = the arm's base frame (base at the origin, table top at
    z = 0). The sim arm has no DH table: its geometry is arm.xml, so MuJoCo's FK is the exact one.
    """

    def __init__(self, tool_offset: Sequence[float] = (0.0, 0.0, 0.0), site: str = "tcp") -> None:
        self.joint_names = ARM_JOINTS
        self.model = load_model()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._qadr = [int(m.jnt_qposadr[m.joint(n).id]) for n in ARM_JOINTS]
        self._site = m.site(site).id
        self._offset = np.asarray(tool_offset, dtype=np.float64).reshape(3)
        self._has_offset = bool(np.any(self._offset != 0.0))

    def _update(self, q: Sequence[float] | np.ndarray) -> None:
        qpos = self.data.qpos
        for adr, value in zip(self._qadr, q):
            qpos[adr] = value
        mujoco.mj_kinematics(self.model, self.data)

    def tool_pose(self, q: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._update(q)
        rot = self.data.site_xmat[self._site].reshape(3, 3).copy()
        return self.data.site_xpos[self._site] + rot @ self._offset, rot

    def tool_position(self, q: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
        if self._has_offset:
            return super().tool_position(q)
        self._update(q)
        x, y, z = self.data.site_xpos[self._site].tolist()
        return x, y, z
