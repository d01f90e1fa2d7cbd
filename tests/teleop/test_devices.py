"""Each teleop device parser on raw events: terminal key bytes, pygame joystick events (posted
through SDL's event queue with the dummy video driver), 3Dconnexion HID report bytes, and a
leader arm's joint states."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from roboalign.teleop.config import GamepadConfig, KeyboardConfig, LeaderConfig, SpaceMouseConfig, load_teleop_config
from roboalign.teleop.keyboard import KeyboardTeleop
from roboalign.teleop.leader import LeaderArmMapping
from roboalign.teleop.spacemouse import SpaceMouseState


# ---- keyboard ----------------------------------------------------------------------------------
def test_held_keys_add_up_into_a_twist_until_press_s_after_the_last_repeat():
    kb = KeyboardTeleop(KeyboardConfig(press_s=0.3))
    assert kb.feed(b"iu", now=10.0) == 2
    inp = kb.read(10.1)
    assert inp.twist.linear.tolist() == [1.0, 0.0, 1.0] and inp.stamp == 10.0
    kb.feed(b"i", now=10.2)                          # auto-repeat of i only
    assert kb.read(10.45).twist.linear.tolist() == [1.0, 0.0, 0.0]
    assert kb.read(10.6).stamp is None and kb.read(10.6).twist.is_zero


def test_shifted_keys_rotate_brackets_drive_the_gripper_and_h_stops_at_once():
    kb = KeyboardTeleop()
    kb.feed("J]", now=1.0)
    inp = kb.read(1.05)
    assert inp.twist.angular.tolist() == [0.0, 0.0, 1.0] and inp.gripper == 1.0
    kb.feed("h", now=1.1)
    assert kb.read(1.1).stamp is None


def test_escape_sequences_and_other_keys_are_not_teleop_input():
    kb = KeyboardTeleop()
    assert kb.feed(b"\x1b[A", now=0.0) == 0             # arrow up
    assert kb.feed(b"rsx ", now=0.0) == 0               # console keys are left to the console
    assert kb.read(0.01).stamp is None


def test_a_key_bound_twice_is_refused():
    with pytest.raises(ValueError, match="one thing"):
        KeyboardConfig(gripper_open="i")


# ---- gamepad (pygame) ---------------------------------------------------------------------------
@pytest.fixture
def pygame():
    from roboalign.teleop.gamepad import init_pygame

    pg = init_pygame()
    pg.event.clear()
    yield pg
    pg.event.clear()


def post(pg, kind, **attrs):
    pg.event.post(pg.event.Event(kind, instance_id=7, joy=0, **attrs))


def drain(pg, state, now):
    for event in pg.event.get():
        state.handle(event, pg, now)
    return state.read(now)


def test_joystick_events_become_a_twist_only_while_the_enable_button_is_held(pygame):
    from roboalign.teleop.gamepad import GamepadState

    state = GamepadState(GamepadConfig(), instance_id=7)
    post(pygame, pygame.JOYAXISMOTION, axis=1, value=-1.0)   # left stick fully up
    post(pygame, pygame.JOYAXISMOTION, axis=3, value=0.05)   # right stick inside the deadzone
    inp = drain(pygame, state, 1.0)
    assert inp.twist.linear[0] == pytest.approx(1.0) and inp.twist.angular[2] == 0.0
    assert inp.stamp is None                                  # LB not held: no input (deadman)
    post(pygame, pygame.JOYBUTTONDOWN, button=4)
    post(pygame, pygame.JOYBUTTONDOWN, button=0)              # A: close
    inp = drain(pygame, state, 2.0)
    assert inp.stamp == 2.0 and inp.gripper == 1.0
    post(pygame, pygame.JOYBUTTONUP, button=4)
    assert drain(pygame, state, 3.0).stamp is None


def test_half_deflection_past_the_deadzone_scales_linearly_and_other_pads_are_ignored(pygame):
    from roboalign.teleop.gamepad import GamepadState

    state = GamepadState(GamepadConfig(deadzone=0.2, enable_button=-1), instance_id=7)
    post(pygame, pygame.JOYAXISMOTION, axis=0, value=0.6)
    pygame.event.post(pygame.event.Event(pygame.JOYAXISMOTION, instance_id=8, joy=1, axis=1, value=1.0))
    inp = drain(pygame, state, 1.0)
    assert inp.twist.linear[1] == pytest.approx(-0.5) and inp.twist.linear[0] == 0.0 and inp.stamp == 1.0


def test_an_unplugged_gamepad_gives_no_input(pygame):
    from roboalign.teleop.gamepad import GamepadState

    state = GamepadState(GamepadConfig(enable_button=-1), instance_id=7)
    post(pygame, pygame.JOYAXISMOTION, axis=1, value=-1.0)
    pygame.event.post(pygame.event.Event(pygame.JOYDEVICEREMOVED, instance_id=7))
    inp = drain(pygame, state, 1.0)
    assert not state.connected and inp.stamp is None and inp.twist is None


def test_no_gamepad_connected_is_input_lost(pygame):
    from roboalign.control.estop_input import InputLost
    from roboalign.teleop.gamepad import GamepadTeleop

    with pytest.raises(InputLost, match="no gamepad"):
        GamepadTeleop(GamepadConfig(index=pygame.joystick.get_count()))


# ---- 3D mouse (hidapi reports) -----------------------------------------------------------------
def report(rid: int, *values: int) -> list[int]:
    return [rid, *struct.pack(f"<{len(values)}h", *values)]


def test_separate_translation_and_rotation_reports_of_older_devices():
    state = SpaceMouseState(SpaceMouseConfig(deadzone=0.0))
    assert state.parse(report(1, 350, -175, 350), now=1.0)
    assert state.parse(report(2, 0, 0, -350), now=1.01)
    inp = state.read()
    # device: x right, y toward the user, z down -> x right, y away, z up
    assert inp.twist.linear.tolist() == pytest.approx([1.0, 0.5, -1.0])
    assert inp.twist.angular.tolist() == pytest.approx([0.0, 0.0, 1.0]) and inp.stamp == 1.01


def test_one_13_byte_report_carries_translation_and_rotation_on_newer_devices():
    state = SpaceMouseState(SpaceMouseConfig(deadzone=0.1))
    state.parse(report(1, 35, 0, 0, 700, 0, 0), now=2.0)      # x inside the deadzone; roll past full scale
    inp = state.read()
    assert inp.twist.linear.tolist() == [0.0, 0.0, 0.0] and inp.twist.angular[0] == pytest.approx(1.0)


def test_button_reports_drive_the_gripper_and_unknown_reports_are_ignored():
    state = SpaceMouseState()
    assert state.parse([3, 0b10, 0], now=1.0) and state.read().gripper == 1.0
    assert state.parse([3, 0b01, 0], now=1.1) and state.read().gripper == -1.0
    assert not state.parse([0x17, 100], now=1.2)              # battery level (SpaceMouse Wireless)
    assert not state.parse([1, 0, 0], now=1.3)                # truncated


# ---- leader arm --------------------------------------------------------------------------------
def test_leader_joints_map_by_name_with_offsets_and_scales():
    config = LeaderConfig(joint_map={"joint1": "l_j1", "gripper": "l_grip"}, offsets={"joint1": 0.1},
                          scales={"gripper": -1.0})
    leader = LeaderArmMapping(("joint1", "joint2", "gripper"), config)
    assert leader.on_joint_state(["l_grip", "l_j1", "extra"], [-0.8, 0.5, 9.0], now=4.0)
    inp = leader.read()
    assert inp.joints == pytest.approx({"joint1": 0.6, "gripper": 0.8}) and inp.stamp == 4.0
    assert not leader.on_joint_state(["l_j1"], [0.5], now=5.0)                   # the gripper is missing
    assert not leader.on_joint_state(["l_j1", "l_grip"], [np.nan, 0.0], now=6.0)
    assert leader.read().stamp == 4.0


def test_a_leader_map_naming_a_joint_this_arm_lacks_is_refused():
    with pytest.raises(ValueError, match="lacks"):
        LeaderArmMapping(("joint1",), LeaderConfig(joint_map={"elbow": "e"}))


# ---- configs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["keyboard", "gamepad", "spacemouse", "leader"])
def test_every_shipped_teleop_config_loads(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / "teleop" / f"{name}.yaml"
    assert load_teleop_config(path).source == name


def test_a_misspelt_teleop_key_is_refused_with_its_line(tmp_path):
    from roboalign.errors import ConfigError

    path = tmp_path / "t.yaml"
    path.write_text("source: keyboard\ncontroller:\n  deadman: 0.3\n")
    with pytest.raises(ConfigError, match=r"t.yaml:3:3: controller.deadman: unknown key; did you mean deadman_s"):
        load_teleop_config(path)
