"""SimArm: model, seeded resets, commands, state units, cameras, observations."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.core.observation import Observation
from roboalign.sim import tasks
from roboalign.sim.arm import JOINT_NAMES, SimArm, sim_robot_spec


@pytest.fixture(scope="module")
def arm():
    a = SimArm(render_size=(64, 80), cameras=("front", "wrist"))
    yield a
    a.close()


def test_spec_is_seven_dof_with_gripper_last_and_matches_model_ranges(arm):
    spec = sim_robot_spec()
    assert spec.dof == 7 and spec.joint_names == JOINT_NAMES and spec.gripper_index == 6
    assert spec.control_rate_hz == 50.0
    for i, name in enumerate(JOINT_NAMES[:6]):
        np.testing.assert_allclose([spec.limits.lower[i], spec.limits.upper[i]], arm.model.joint(name).range)
    assert (spec.limits.lower[6], spec.limits.upper[6]) == (0.0, 1.0)
    assert np.all(spec.limits.max_velocity > 0) and np.all(spec.limits.max_acceleration > 0)
    assert arm.spec.to_dict() == spec.to_dict()


def test_physics_step_is_2ms_and_time_advances_by_whole_steps_carrying_remainder(arm):
    arm.reset(0)
    assert arm.model.opt.timestep == pytest.approx(0.002)
    arm.step(0.005)  # two steps now, 1 ms carried over
    assert arm.time == pytest.approx(0.004)
    arm.step(0.001)
    assert arm.time == pytest.approx(0.006)


def test_position_actuators_track_an_absolute_joint_target(arm):
    arm.reset(1)
    target = arm.joint_positions() + np.array([0.2, -0.15, 0.2, 0.3, -0.2, 0.4, 0.0])
    target[6] = 1.0  # close the gripper
    arm.set_command(target)
    arm.step(0.8)
    np.testing.assert_allclose(arm.joint_positions()[:6], target[:6], atol=5e-3)
    assert arm.joint_positions()[6] == pytest.approx(1.0, abs=0.02)
    assert np.all(np.abs(arm.joint_velocities()) < 0.05)


def test_set_command_rejects_wrong_length_and_non_finite(arm):
    arm.reset(0)
    with pytest.raises(ValueError, match="7 values"):
        arm.set_command(np.zeros(6))
    with pytest.raises(ValueError, match="non-finite"):
        arm.set_command(np.array([0, 0, np.nan, 0, 0, 0, 0.0]))


def _snapshot(arm: SimArm):
    return arm.joint_positions(), arm.object_positions(), arm.instruction


def test_reset_is_deterministic_per_seed_and_differs_across_seeds(arm):
    arm.reset(7)
    q_a, obj_a, instr_a = _snapshot(arm)
    arm.reset(8)
    q_b, obj_b, _ = _snapshot(arm)
    arm.reset(7)
    q_c, obj_c, instr_c = _snapshot(arm)
    np.testing.assert_array_equal(q_a, q_c)
    assert instr_a == instr_c
    for name in tasks.OBJECT_NAMES:
        np.testing.assert_array_equal(obj_a[name], obj_c[name])
        assert not np.allclose(obj_a[name], obj_b[name])
    assert not np.allclose(q_a, q_b)


def test_blocks_rest_on_the_table_in_the_workspace_after_reset(arm):
    for seed in range(5):
        arm.reset(seed)
        arm.step(0.3)
        for name, p in arm.object_positions().items():
            assert p[2] == pytest.approx(tasks.BLOCK_HALF, abs=2e-3), name
            assert tasks.BLOCK_X[0] - 1e-6 <= p[0] <= tasks.BLOCK_X[1] + 1e-6


def test_success_is_false_at_reset_and_while_idle(arm):
    for family in tasks.FAMILIES:
        for seed in range(5):
            arm.reset(seed, family)
            assert not arm.success()
            arm.step(0.5)
            assert not arm.success(), (family, seed)


def test_reset_accepts_a_family_or_a_full_instruction(arm):
    info = arm.reset(3, "push the green block onto the target")
    assert (info.family, info.target) == ("push", "green_block")
    assert arm.instruction == "push the green block onto the target"
    assert "target_pad" in arm.object_positions()
    info = arm.reset(3, "touch")
    assert info.family == "touch" and "target_pad" not in arm.object_positions()
    with pytest.raises(ValueError, match="cannot read a task"):
        arm.reset(3, "dance")


def test_render_gives_uint8_images_of_the_configured_size_that_are_not_blank(arm):
    arm.reset(2)
    assert set(arm.camera_names) == {"front", "wrist"}
    for cam in ("front", "wrist"):
        img = arm.render(cam)
        assert img.dtype == np.uint8 and img.shape == (64, 80, 3)
        assert img.std() > 10  # a real scene, not a flat fill
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    with pytest.raises(ValueError, match="unknown camera"):
        arm.render("top")


def test_front_camera_sees_the_coloured_blocks(arm):
    arm.reset(2)
    img = arm.render("front").astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    assert np.sum((r > 150) & (g < 80) & (b < 80)) >= 2  # red block pixels
    assert np.sum((g > 120) & (r < 80) & (b < 100)) >= 2  # green
    assert np.sum((b > 150) & (r < 80) & (g < 120)) >= 2  # blue


def test_observation_carries_images_state_and_privileged_target(arm):
    info = arm.reset(4, "push")
    obs = arm.observation(12.5)
    assert isinstance(obs, Observation)
    assert set(obs.images) == {"front", "wrist"}
    assert obs.joint_positions.shape == (7,) and obs.joint_velocities.shape == (7,)
    assert obs.instruction == info.instruction and obs.timestamp == 12.5
    assert obs.capture_times == {"joints": 12.5, "front": 12.5, "wrist": 12.5, "privileged": 12.5}
    priv = obs.privileged
    np.testing.assert_array_equal(priv["target_position"], arm.object_positions()[info.target])
    assert tasks.OBJECT_NAMES[int(priv["target_index"][0])] == info.target
    assert tasks.FAMILIES[int(priv["family_index"][0])] == "push"
    np.testing.assert_allclose(priv["pad_position"], info.pad_position)
    assert all(isinstance(v, np.ndarray) for v in priv.values())


def test_arm_without_cameras_never_renders():
    with SimArm(cameras=()) as a:
        obs = a.observation(0.0)
        assert obs.images == {} and a._renderer is None


# ---- SimArm as a core.Robot, its cameras as core.Camera ---------------------------------------
def test_sim_arm_is_a_robot_whose_clock_is_simulated_time(arm):
    from roboalign.core.robot import Robot

    assert isinstance(arm, Robot) and arm.is_connected
    arm.reset(2)
    state = arm.read_state()
    assert state.names == JOINT_NAMES and state.capture_time == 0.0
    np.testing.assert_array_equal(state.positions, arm.joint_positions())
    arm.sleep_until(0.1)
    assert arm.now() == pytest.approx(0.1) and arm.read_state().capture_time == pytest.approx(0.1)
    arm.sleep_until(0.05)  # the past: nothing happens
    assert arm.now() == pytest.approx(0.1)
    target = state.positions + 0.1
    arm.send_command(target)
    np.testing.assert_allclose(arm.data.ctrl[:6], target[:6])
    with pytest.raises(ValueError, match="non-finite"):
        arm.send_command(np.full(7, np.nan))


def test_connect_and_disconnect_are_idempotent_and_a_disconnected_arm_says_what_to_do():
    from roboalign.core.camera import NotConnectedError
    from roboalign.core.robot import RobotNotConnectedError

    with SimArm(render_size=(16, 16), cameras=("front",)) as a:
        a.connect()
        a.disconnect()
        a.disconnect()
        assert not a.is_connected and not a.cameras["front"].is_connected
        with pytest.raises(RobotNotConnectedError, match="call connect"):
            a.read_state()
        with pytest.raises(RobotNotConnectedError, match="call connect"):
            a.send_command(np.zeros(7))
        with pytest.raises(NotConnectedError, match="'front'.*call connect"):
            a.cameras["front"].read_latest(1.0)
        a.connect()
        a.connect()
        assert a.read_state().positions.shape == (7,)
        assert a.cameras["front"].read_latest(1.0).image.shape == (16, 16, 3)


def test_sim_camera_renders_once_per_instant_and_read_waits_for_a_new_instant(arm):
    from roboalign.core.camera import Camera, FrameTimeoutError

    cam = arm.cameras["front"]
    assert isinstance(cam, Camera) and cam.name == "front"
    arm.reset(3)
    first = cam.read_latest(0.0)
    assert first.capture_time == 0.0 and first.image.shape == (64, 80, 3)
    assert cam.read_latest(0.0) is first  # same instant: the same frame, not a second render
    with pytest.raises(FrameTimeoutError, match="simulated time has not advanced"):
        cam.read()
    arm.sleep_until(0.02)
    new = cam.read()
    assert new.capture_time == pytest.approx(0.02) and new.sequence == first.sequence + 1
    arm.reset(4)  # a new scene at the same simulated instant 0 must not reuse an old frame
    again = cam.read_latest(0.0)
    assert again.capture_time == 0.0 and again.sequence == new.sequence + 1


def test_the_cli_camera_list_is_the_model_cameras(arm):
    assert arm.camera_names == tasks.CAMERAS
