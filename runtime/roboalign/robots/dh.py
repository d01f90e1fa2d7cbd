"""Forward kinematics of a DH chain (a RobotSpec's `kinematics:` section) through pinocchio.

The pinocchio Model is built programmatically from the DH rows: each arm joint is a revolute
joint about its own z axis, placed by the fixed part of the DH transforms around it; the
flange row and the tool offset become an operational frame on the last joint. Needs the
`kinematics` extra (`pip install roboalign[kinematics]`, i.e. pin==4.1.0).

Units: metres, radians; poses in the arm's base frame (the frame of the first DH row).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.core.kinematics import KinematicChain, Kinematics
from roboalign.errors import RoboAlignError

try:
    import pinocchio as pin
except ImportError:  # optional extra: the error says how to get it when a model is built
    pin = None


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _homogeneous(rotation: np.ndarray | None = None, translation: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    t = np.eye(4)
    if rotation is not None:
        t[:3, :3] = rotation
    t[:3, 3] = translation
    return t


def fixed_part(row: Sequence[float], convention: str) -> np.ndarray:
    """4x4 transform of one DH row without its joint rotation RotZ(q).

    modified (Craig): RotX(alpha) TransX(a) TransZ(d) RotZ(offset), placed BEFORE the joint;
    standard: RotZ(offset) TransZ(d) TransX(a) RotX(alpha), placed AFTER the joint.
    (RotZ(q) commutes with TransZ(d) and RotZ(offset), so these are the exact DH products.)
    """
    a, d, alpha, offset = (float(v) for v in row)
    if convention == "modified":
        return _homogeneous(_rot_x(alpha)) @ _homogeneous(None, (a, 0.0, d)) @ _homogeneous(_rot_z(offset))
    if convention == "standard":
        return _homogeneous(_rot_z(offset)) @ _homogeneous(None, (a, 0.0, d)) @ _homogeneous(_rot_x(alpha))
    raise ValueError(f"unknown DH convention {convention!r}")


def tool_transform(offset: Sequence[float] = (0.0, 0.0, 0.0), rpy: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 flange -> tool transform: translation `offset` (m, flange frame), then roll-pitch-yaw (rad)."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    rot = np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                    [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                    [-sp, cp * sr, cp * cr]])
    return _homogeneous(rot, [float(v) for v in offset])


def build_model(chain: KinematicChain, joint_names: Sequence[str], tool: np.ndarray | None = None):
    """(pinocchio Model, id of its "tool" frame) for `chain`; tool: 4x4 flange -> tool (None = flange)."""
    if pin is None:
        raise RoboAlignError("forward kinematics of a DH chain needs pinocchio: pip install 'roboalign[kinematics]'")
    if len(joint_names) != chain.dof:
        raise ValueError(f"{len(joint_names)} joint names for {chain.dof} DH rows")
    model = pin.Model()
    model.name = "dh_chain"
    parent = 0
    pending = np.eye(4)  # fixed transform from the parent joint frame to the next joint frame
    for name, row in zip(joint_names, chain.rows):
        fixed = fixed_part(row, chain.convention)
        if chain.convention == "modified":
            placement, after = pending @ fixed, np.eye(4)
        else:
            placement, after = pending, fixed
        parent = model.addJoint(parent, pin.JointModelRZ(), pin.SE3(placement[:3, :3], placement[:3, 3]), name)
        pending = after
    flange = pending @ fixed_part(chain.flange, chain.convention)
    model.addFrame(pin.Frame("flange", parent, pin.SE3(flange[:3, :3], flange[:3, 3]), pin.FrameType.OP_FRAME))
    tcp = flange @ (np.eye(4) if tool is None else tool)
    frame = model.addFrame(pin.Frame("tool", parent, pin.SE3(tcp[:3, :3], tcp[:3, 3]), pin.FrameType.OP_FRAME))
    return model, frame


class DHKinematics(Kinematics):
    """Pinocchio forward kinematics of a KinematicChain's tool frame.

    joint_names: the arm joints the DH rows belong to, in row order.
    tool_offset: tool point in the flange frame (m), e.g. (0, 0, 0.1034) for the Franka Hand's
        fingertip centre; tool_rpy: its orientation (rad). Defaults: the flange itself.
    """

    def __init__(self, chain: KinematicChain, joint_names: Sequence[str],
                 tool_offset: Sequence[float] = (0.0, 0.0, 0.0), tool_rpy: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        self.chain = chain
        self.joint_names = tuple(joint_names)
        self.model, self._frame = build_model(chain, self.joint_names, tool_transform(tool_offset, tool_rpy))
        self.data = self.model.createData()
        self._q = np.zeros(self.model.nq)

    def tool_pose(self, q: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._q[:] = q
        pin.forwardKinematics(self.model, self.data, self._q)
        placement = pin.updateFramePlacement(self.model, self.data, self._frame)
        return placement.translation.copy(), placement.rotation.copy()

    def tool_position(self, q: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
        self._q[:] = q
        pin.forwardKinematics(self.model, self.data, self._q)
        x, y, z = pin.updateFramePlacement(self.model, self.data, self._frame).translation.tolist()
        return x, y, z
