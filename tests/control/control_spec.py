"""A 6-joint arm + gripper spec for the pure control tests (no sim, no ROS)."""
from __future__ import annotations

import numpy as np

from roboalign.core.robot import JointLimits, RobotSpec


def make_spec(jerk: bool = False) -> RobotSpec:
    lower = np.array([-2.8, -1.7, -2.8, -3.0, -2.8, -3.7, 0.0])
    upper = np.array([2.8, 1.7, 2.8, 0.0, 2.8, 3.7, 1.0])
    return RobotSpec(
        name="test_arm",
        joint_names=("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"),
        limits=JointLimits(
            lower=lower,
            upper=upper,
            max_velocity=np.array([1.5, 1.5, 1.5, 1.5, 2.0, 2.0, 2.0]),
            max_acceleration=np.array([6.0, 6.0, 6.0, 6.0, 8.0, 8.0, 10.0]),
            max_jerk=np.full(7, 200.0) if jerk else None,
        ),
        control_rate_hz=50.0,
        gripper_index=6,
    )


HOME = np.array([0.0, 0.3, 0.0, -1.5, 0.0, 1.8, 0.0])
