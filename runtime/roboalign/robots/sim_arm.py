"""Forward kinematics of the MuJoCo sim arm's tool, from the simulator's own model.

The sim arm has no DH table: its geometry is sim/assets/arm.xml, so the exact FK is MuJoCo's
(mj_kinematics on a private MjData, independent of any running simulation). The tool point is
the arm's "tcp" site (between the fingertips) plus an optional offset in the site's frame.
Frame: MuJoCo world = the arm's base frame (base at the origin, table top at z = 0).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.core.kinematics import Kinematics
from roboalign.sim.gl import configure_gl

configure_gl()  # must run before mujoco is imported (it reads MUJOCO_GL once)
import mujoco  # noqa: E402

from roboalign.sim.arm import ARM_JOINTS, load_model  # noqa: E402


class SimArmKinematics(Kinematics):
    """FK of the sim arm's tcp site for joints joint1..joint6 (rad)."""

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
