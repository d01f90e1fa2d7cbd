"""Robots without ROS: forward kinematics for each RobotSpec (robot specs live in configs/robots/),
and how a safe joint command is split and stamped for an arm driver's controllers (controller.py).

    kin = kinematics_for(RobotSpec.load("configs/robots/fr3.yaml"), tool_offset=(0, 0, 0.1034))
    x, y, z = kin.tool_position(q_arm)

A spec with a `kinematics:` DH table gets pinocchio FK (roboalign.robots.dh, the `kinematics`
extra); the MuJoCo sim arm gets MuJoCo's own FK of its tcp site (roboalign.sim.kinematics).
"""
from __future__ import annotations

from collections.abc import Sequence

from roboalign.core.kinematics import Kinematics
from roboalign.core.robot import RobotSpec
from roboalign.errors import ConfigError

SIM_ARM_NAME = "roboalign_sim_arm"  # roboalign.sim.arm.sim_robot_spec().name


def kinematics_for(spec: RobotSpec, tool_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> Kinematics:
    """Forward kinematics of `spec`'s tool point; tool_offset: m in the flange (sim: tcp site) frame.

    ConfigError when the spec has no kinematic model (a workspace check must not run without one)."""
    offset = tuple(float(v) for v in tool_offset)
    if len(offset) != 3:
        raise ConfigError(f"tool offset must be [x, y, z] in metres, got {list(tool_offset)}")
    if spec.kinematics is not None:
        from roboalign.robots.dh import DHKinematics  # lazy: pinocchio is an optional extra

        return DHKinematics(spec.kinematics, spec.arm_joint_names, tool_offset=offset)
    if spec.name == SIM_ARM_NAME:
        from roboalign.sim.kinematics import SimToolKinematics  # lazy: pulls in mujoco

        return SimToolKinematics(tool_offset=offset)
    raise ConfigError(f"robot {spec.name!r} has no kinematic model: add a `kinematics:` DH table to its "
                      "robot YAML (see configs/robots/fr3.yaml) or turn the workspace check off")
