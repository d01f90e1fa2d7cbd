"""Robot specs (configs/robots) and forward kinematics (roboalign.robots), checked against the
poses the manufacturers' DH tables imply, computed independently here with plain numpy."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from roboalign.core.kinematics import KinematicChain
from roboalign.core.robot import RobotSpec
from roboalign.errors import ConfigError
from roboalign.robots import kinematics_for
from roboalign.sim.arm import SimArm, sim_robot_spec
from roboalign.sim.kinematics import ArmKinematics

# The DH chains need the `kinematics` extra (pin); the specs and the sim arm's FK do not.
needs_pinocchio = pytest.mark.skipif(importlib.util.find_spec("pinocchio") is None,
                                     reason="pinocchio (the kinematics extra) is not installed")
ROBOTS = Path(__file__).resolve().parents[2] / "configs" / "robots"
FR3 = RobotSpec.load(ROBOTS / "fr3.yaml")
UR5E = RobotSpec.load(ROBOTS / "ur5e.yaml")


def dh_matrix(a: float, d: float, alpha: float, theta: float, convention: str) -> np.ndarray:
    """One DH link transform, written out from the textbook formulas (not from roboalign)."""
    ct, st, ca, sa = math.cos(theta), math.sin(theta), math.cos(alpha), math.sin(alpha)
    if convention == "modified":  # Craig: RotX(alpha) TransX(a) RotZ(theta) TransZ(d)
        return np.array([[ct, -st, 0.0, a],
                         [st * ca, ct * ca, -sa, -d * sa],
                         [st * sa, ct * sa, ca, d * ca],
                         [0.0, 0.0, 0.0, 1.0]])
    return np.array([[ct, -st * ca, st * sa, a * ct],  # standard: RotZ TransZ TransX RotX
                     [st, ct * ca, -ct * sa, a * st],
                     [0.0, sa, ca, d],
                     [0.0, 0.0, 0.0, 1.0]])


def numpy_flange(spec: RobotSpec, q: np.ndarray) -> np.ndarray:
    chain = spec.kinematics
    t = np.eye(4)
    for (a, d, alpha, offset), qi in zip(chain.rows, q):
        t = t @ dh_matrix(a, d, alpha, qi + offset, chain.convention)
    a, d, alpha, offset = chain.flange
    return t @ dh_matrix(a, d, alpha, offset, chain.convention)


def test_fr3_spec_has_franka_ros2_joint_names_and_the_published_limits():
    assert FR3.joint_names == tuple(f"fr3_joint{i}" for i in range(1, 8)) and FR3.gripper_index is None
    lim = FR3.limits
    np.testing.assert_array_equal(lim.max_acceleration, np.full(7, 10.0))
    np.testing.assert_array_equal(lim.max_jerk, np.full(7, 5000.0))
    # Franka's suggested rectangular set lies inside the hardware ranges of the same page.
    hw_min = np.array([-2.9007, -1.8361, -2.9007, -3.0770, -2.8763, 0.4398, -3.0508])
    hw_max = np.array([2.9007, 1.8361, 2.9007, -0.1169, 2.8763, 4.6216, 3.0508])
    assert np.all(lim.lower > hw_min) and np.all(lim.upper < hw_max)
    assert np.all(lim.max_velocity <= np.array([2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26]))


def test_ur5e_spec_has_ur_driver_joint_names_and_the_published_limits():
    assert UR5E.joint_names == ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint",
                                "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")
    np.testing.assert_allclose(UR5E.limits.max_velocity, np.full(6, math.pi))  # 180 deg/s
    np.testing.assert_allclose(UR5E.limits.upper, [2 * math.pi] * 2 + [math.pi] + [2 * math.pi] * 3)
    assert UR5E.limits.max_jerk is None  # UR publishes none


@pytest.mark.parametrize("spec", [FR3, UR5E], ids=["fr3", "ur5e"])
def test_robot_spec_yaml_round_trips_with_its_kinematics(spec, tmp_path):
    spec.save(tmp_path / "arm.yaml")
    again = RobotSpec.load(tmp_path / "arm.yaml")
    assert again.kinematics == spec.kinematics and again.joint_names == spec.joint_names


@needs_pinocchio
def test_fr3_flange_at_zero_is_where_the_dh_table_puts_it():
    """Sum of the table at q = 0: x = a4 + a5 + a7 = 0.088, z = d1 + d3 + d5 - d_flange = 0.926,
    flange z axis pointing down."""
    p, r = kinematics_for(FR3).tool_pose(np.zeros(7))
    np.testing.assert_allclose(p, [0.088, 0.0, 0.926], atol=1e-12)
    np.testing.assert_allclose(r, np.diag([1.0, -1.0, -1.0]), atol=1e-12)


@needs_pinocchio
def test_ur5e_flange_at_zero_is_where_the_dh_table_puts_it():
    """At q = 0 the UR arm lies stretched along -x: x = a2 + a3, y = -(d4 + d6), z = d1 - d5."""
    p, _ = kinematics_for(UR5E).tool_pose(np.zeros(6))
    np.testing.assert_allclose(p, [-0.425 - 0.3922, -(0.1333 + 0.0996), 0.1625 - 0.0997], atol=1e-12)


@needs_pinocchio
@pytest.mark.parametrize("spec", [FR3, UR5E], ids=["fr3", "ur5e"])
def test_pinocchio_fk_matches_a_plain_numpy_dh_product_at_random_configurations(spec):
    kin = kinematics_for(spec)
    rng = np.random.default_rng(3)
    for _ in range(25):
        q = rng.uniform(spec.limits.lower, spec.limits.upper)
        p, r = kin.tool_pose(q)
        t = numpy_flange(spec, q)
        np.testing.assert_allclose(p, t[:3, 3], atol=1e-12)
        np.testing.assert_allclose(r, t[:3, :3], atol=1e-12)
        assert kin.tool_position(q) == pytest.approx(tuple(t[:3, 3]), abs=1e-12)


@needs_pinocchio
def test_tool_offset_moves_the_tool_point_along_the_flange_axes():
    hand_tcp = 0.1034  # m, Franka Hand fingertip centre along the flange z axis
    q = np.array([0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.7])
    t = numpy_flange(FR3, q)
    expected = t[:3, 3] + t[:3, :3] @ np.array([0.0, 0.0, hand_tcp])
    np.testing.assert_allclose(kinematics_for(FR3, (0.0, 0.0, hand_tcp)).tool_position(q), expected, atol=1e-12)
    np.testing.assert_allclose(kinematics_for(FR3, (0.0, 0.0, hand_tcp)).tool_position(np.zeros(7)),
                               [0.088, 0.0, 0.926 - hand_tcp], atol=1e-12)


def test_sim_arm_kinematics_is_mujocos_tcp_site():
    spec = sim_robot_spec()
    kin = kinematics_for(spec)
    assert kin.joint_names == spec.arm_joint_names
    np.testing.assert_allclose(kin.tool_position(np.zeros(6)), [0.0, 0.0, 0.913], atol=1e-12)  # straight up
    arm, reference = SimArm(cameras=()), ArmKinematics()
    assert type(arm.kinematics()) is type(kin)
    rng = np.random.default_rng(0)
    for _ in range(10):
        q = rng.uniform(spec.limits.lower[:6], spec.limits.upper[:6])
        np.testing.assert_allclose(kin.tool_position(q), reference.fk(q)[0], atol=1e-12)
    offset = kinematics_for(spec, (0.0, 0.0, 0.05))
    p, r = reference.fk(q)
    np.testing.assert_allclose(offset.tool_position(q), p + r @ [0.0, 0.0, 0.05], atol=1e-12)


def test_a_robot_without_a_kinematic_model_is_refused_by_name():
    spec = RobotSpec.from_dict({**{k: v for k, v in FR3.to_dict().items() if k != "kinematics"}, "name": "mystery"})
    with pytest.raises(ConfigError, match="'mystery' has no kinematic model"):
        kinematics_for(spec)


def test_kinematics_sections_that_do_not_fit_the_arm_are_refused(tmp_path):
    data = FR3.to_dict()
    data["kinematics"]["rows"] = data["kinematics"]["rows"][:6]
    (tmp_path / "six.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="6 DH rows but the arm has 7 joints"):
        RobotSpec.load(tmp_path / "six.yaml")
    data = FR3.to_dict()
    data["kinematics"]["convnetion"] = "modified"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="convnetion"):
        RobotSpec.load(tmp_path / "typo.yaml")
    with pytest.raises(ValueError, match="convention must be one of"):
        KinematicChain("craig", ((0.0, 0.0, 0.0, 0.0),))
    with pytest.raises(ValueError, match="4 finite numbers"):
        KinematicChain("modified", ((0.0, math.nan, 0.0, 0.0),))
