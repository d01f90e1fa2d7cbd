"""Pinocchio models of the arms teleop drives, for differential inverse kinematics.

- A RobotSpec with a `kinematics:` DH table (configs/robots/fr3.yaml, ur5e.yaml): the model
  roboalign.robots.dh builds from the table, with its "tool" frame (flange + tool offset).
- The MuJoCo sim arm: pinocchio's own MJCF parser reads sim/assets/arm.xml, the finger slides
  are locked (the gripper is one commanded unit, not part of the kinematic chain), and the
  "tcp" site is the tool frame: the same geometry MuJoCo simulates (tests compare both FKs).

Units: metres, radians; the arm's base frame.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from roboalign.core.robot import RobotSpec
from roboalign.errors import ConfigError, RoboAlignError

SIM_ARM_NAME = "roboalign_sim_arm"


@dataclasses.dataclass
class ArmModel:
    """A pinocchio Model of the arm joints (in RobotSpec arm-joint order) and its tool frame id."""

    model: object
    tool_frame: int
    joint_names: tuple[str, ...]


def _pin():
    try:
        import pinocchio
    except ImportError:
        raise RoboAlignError("teleop by end-effector velocity needs pinocchio: pip install 'roboalign[kinematics]'") from None
    return pinocchio


def arm_model(spec: RobotSpec, tool_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> ArmModel:
    """The pinocchio model of `spec`'s arm joints; tool_offset (m) in the flange / tcp frame."""
    pin = _pin()
    if spec.kinematics is not None:
        from roboalign.robots.dh import build_model, tool_transform

        model, frame = build_model(spec.kinematics, spec.arm_joint_names, tool_transform(tool_offset))
        return ArmModel(model, frame, spec.arm_joint_names)
    if spec.name == SIM_ARM_NAME:
        return _sim_arm_model(pin, spec, tool_offset)
    raise ConfigError(f"robot {spec.name!r} has no kinematic model for end-effector teleop: add a `kinematics:` "
                      "DH table to its robot YAML, or drive it with joint targets (a leader arm)")


def _sim_arm_model(pin, spec: RobotSpec, tool_offset: Sequence[float]) -> ArmModel:
    from roboalign.sim.arm import ARM_XML  # lazy: pulls in mujoco

    full = pin.buildModelFromMJCF(str(ARM_XML))
    lock = [full.getJointId(n) for n in full.names[1:] if n not in spec.arm_joint_names]
    model = pin.buildReducedModel(full, lock, pin.neutral(full)) if lock else full
    if tuple(model.names[1:]) != spec.arm_joint_names:
        raise RoboAlignError(f"sim arm MJCF joints {list(model.names[1:])} differ from the spec's "
                             f"{list(spec.arm_joint_names)}")
    site = model.getFrameId("tcp")
    frame = model.frames[site]
    offset = pin.SE3(np.eye(3), np.asarray(tool_offset, dtype=np.float64).reshape(3))
    tool = model.addFrame(pin.Frame("tool", frame.parentJoint, frame.placement * offset, pin.FrameType.OP_FRAME))
    return ArmModel(model, tool, spec.arm_joint_names)
