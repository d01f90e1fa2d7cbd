"""Differential IK on the pinocchio models and the teleop controller: the sim arm's pinocchio
model (from its MJCF) agrees with MuJoCo's FK; DLS tracks a twist; no step leaves the joint
position or velocity limits (hypothesis); the deadman holds; a DH arm (fr3) works the same."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pinocchio")
from roboalign.core.robot import RobotSpec
from roboalign.sim.arm import sim_robot_spec
from roboalign.teleop.config import ControllerConfig
from roboalign.teleop.controller import build_controller
from roboalign.teleop.input import TeleopInput, Twist

DT = 0.02
SPEC = sim_robot_spec()
CONFIG = ControllerConfig()
CONTROLLER = build_controller(SPEC, CONFIG)
IK = CONTROLLER.ik
READY = np.array([0.0, 0.5, 1.2, 0.0, 1.0, 0.0])   # elbow bent, wrist down: far from singularities
ROOT = Path(__file__).resolve().parents[2]


def test_the_sim_arm_pinocchio_model_matches_mujoco_forward_kinematics():
    from roboalign.sim.kinematics import SimToolKinematics

    mujoco_fk = SimToolKinematics()
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(SPEC.limits.lower[:6], SPEC.limits.upper[:6])
        p, rot = IK.tool_pose(q)
        p_mj, rot_mj = mujoco_fk.tool_pose(q)
        assert np.abs(p - p_mj).max() < 1e-9 and np.abs(rot - rot_mj).max() < 1e-9


def test_dls_tracks_a_twist_along_each_axis():
    for axis in range(6):
        twist = np.zeros(6)
        twist[axis] = 0.05 if axis < 3 else 0.2
        qdot = IK.velocity(READY, twist, DT)
        achieved = IK.jacobian(READY) @ qdot
        assert np.abs(achieved - twist).max() < 0.02 * np.abs(twist).max(), (axis, achieved)


def test_integrating_a_twist_moves_the_tool_along_it():
    q = READY.copy()
    start = IK.tool_pose(q)[0]
    for _ in range(50):  # 1 s at 5 cm/s along +x
        q = q + IK.velocity(q, np.array([0.05, 0, 0, 0, 0, 0]), DT) * DT
    moved = IK.tool_pose(q)[0] - start
    assert moved[0] == pytest.approx(0.05, abs=0.003) and np.abs(moved[1:]).max() < 0.003


joint = st.floats(-1.0, 1.0)
twists = st.lists(st.floats(-3.0, 3.0), min_size=6, max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(joint, min_size=6, max_size=6), twists)
def test_no_ik_step_leaves_the_position_or_velocity_limits(fractions, twist):
    lower, upper = IK.lower, IK.upper
    q = lower + (np.array(fractions) + 1.0) / 2.0 * (upper - lower)   # anywhere inside, limits included
    qdot = IK.velocity(q, np.array(twist), DT)
    assert np.all(np.abs(qdot) <= IK.max_velocity + 1e-12)
    nxt = q + qdot * DT
    assert np.all(nxt >= lower - 1e-12) and np.all(nxt <= upper + 1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(twists, st.floats(-1.0, 1.0), st.booleans()), min_size=5, max_size=40))
def test_controller_targets_stay_in_limits_and_move_within_velocity_and_acceleration_limits(script):
    CONTROLLER.reset()
    measured = np.concatenate([READY, [0.5]])
    lower = SPEC.limits.lower + np.r_[[CONFIG.position_margin] * 6, CONFIG.gripper_margin]
    upper = SPEC.limits.upper - np.r_[[CONFIG.position_margin] * 6, CONFIG.gripper_margin]
    previous, velocity = measured.copy(), np.zeros(7)
    for k, (twist, gripper, live) in enumerate(script):
        now = k * DT
        inp = TeleopInput(twist=Twist(twist[:3], twist[3:]), gripper=gripper, stamp=now if live else None)
        target = CONTROLLER.step(inp, measured, now, DT)
        assert np.all(target >= lower - 1e-12) and np.all(target <= upper + 1e-12)
        step_velocity = (target - previous) / DT
        assert np.all(np.abs(step_velocity) <= SPEC.limits.max_velocity * CONFIG.velocity_scale + 1e-9)
        inside = (target > lower + 1e-9) & (target < upper - 1e-9)  # a limit stops a joint at once
        accel = np.abs(step_velocity - velocity)[inside] / DT
        assert np.all(accel <= (SPEC.limits.max_acceleration * CONFIG.acceleration_scale)[inside] + 1e-6)
        previous, velocity = target, step_velocity
        measured = target.copy()  # a perfectly following arm


def test_the_deadman_brakes_to_a_hold_once_input_is_older_than_deadman_s():
    controller = build_controller(SPEC, ControllerConfig(deadman_s=0.1))
    measured = np.concatenate([READY, [0.0]])
    forward = TeleopInput(twist=Twist([1, 0, 0], [0, 0, 0]), stamp=0.0)
    for k in range(5):                         # live input: moving
        target = controller.step(forward, measured, k * DT, DT)
        measured = target
    assert np.abs(controller.velocity).max() > 0.05 and controller.active
    stopped_at = None
    for k in range(5, 60):                     # the same input, now stale: decelerate, then hold
        target = controller.step(forward, measured, k * DT, DT)
        measured = target
        if stopped_at is None and np.abs(controller.velocity).max() == 0.0:
            stopped_at = k * DT
    assert not controller.active and stopped_at is not None and stopped_at <= 0.1 + 0.2
    held = controller.step(TeleopInput.idle(), measured, 2.0, DT)
    assert np.array_equal(held, measured)


def test_no_input_at_start_commands_exactly_where_the_arm_is():
    controller = build_controller(SPEC, CONFIG)
    measured = np.concatenate([READY, [0.3]])
    assert np.array_equal(controller.step(TeleopInput.idle(), measured, 0.0, DT), measured)


def test_the_target_never_leads_a_lagging_arm_by_more_than_max_lead():
    controller = build_controller(SPEC, ControllerConfig(max_lead=0.05, velocity_scale=1.0, acceleration_scale=1.0))
    measured = np.concatenate([READY, [0.0]])
    up = TeleopInput(twist=Twist([0, 0, 1], [0, 0, 0]), stamp=0.0)
    for _ in range(100):                       # the arm never moves (blocked)
        target = controller.step(up, measured, 0.0, DT)
    assert np.abs(target[:6] - measured[:6]).max() <= 0.05 + controller.max_velocity.max() * DT


def test_leader_joint_targets_are_rate_limited_and_clamped():
    controller = build_controller(SPEC, CONFIG, needs_ik=False)
    measured = np.concatenate([READY, [0.0]])
    far = TeleopInput(joints={"joint1": 10.0, "gripper": 1.0}, stamp=0.0)
    target = controller.step(far, measured, 0.0, DT)
    assert 0.0 < target[0] - measured[0] <= SPEC.limits.max_velocity[0] * CONFIG.velocity_scale * DT + 1e-12
    for _ in range(400):
        target = controller.step(far, target, 0.0, DT)
    assert target[0] == pytest.approx(SPEC.limits.upper[0] - CONFIG.position_margin)


def test_a_dh_arm_gets_the_same_ik_through_its_pinocchio_model():
    spec = RobotSpec.load(ROOT / "configs" / "robots" / "fr3.yaml")
    controller = build_controller(spec, CONFIG)
    q = np.array([0.0, -0.3, 0.0, -2.0, 0.0, 1.8, 0.8])
    twist = np.array([0.0, 0.0, 0.05, 0.0, 0.0, 0.0])
    qdot = controller.ik.velocity(q, twist, DT)
    assert np.abs(controller.ik.jacobian(q) @ qdot - twist).max() < 1e-3


def test_a_lagging_arm_still_moves_the_tool_along_the_twist():
    """Lead and acceleration limits scale the whole joint velocity: they slow the tool, never bend its path."""
    from roboalign.sim.tasks import HOME_Q

    controller = build_controller(SPEC, CONFIG)
    measured = np.concatenate([HOME_Q, [0.0]])
    start = IK.tool_pose(HOME_Q)[0]
    forward_up = TeleopInput(twist=Twist([1, 0, 1], [0, 0, 0]), stamp=0.0)
    for _ in range(60):
        target = controller.step(forward_up, measured, 0.0, DT)
        measured = measured + 0.3 * (target - measured)   # a first-order lag: the arm trails its target
    moved = IK.tool_pose(measured[:6])[0] - start
    direction = moved / np.linalg.norm(moved)
    assert direction @ (np.array([1.0, 0.0, 1.0]) / np.sqrt(2)) > 0.99, moved
