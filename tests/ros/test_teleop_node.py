"""Teleop through the safety node, in real rclpy against the MuJoCo arm (config/teleop_sim.yaml):
a scripted keyboard session moves the simulated arm, never beyond its limits, and the arm stops
once the keys stop; every teleop command reaches the arm through the safety node."""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
from ros_probe import Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from roboalign.sim.kinematics import SimToolKinematics
from roboalign_ros import qos
from roboalign_ros.conversions import command_from_trajectory
from roboalign_ros.graph import load_graph, share_dir
from roboalign_ros.runner import GraphRunner

SIM = {"cameras": ["front"], "camera_rate_hz": 0.5, "objects_rate_hz": 1.0}
DEADMAN_S = 0.3          # the graph's controller.deadman_s (and keyboard.press_s)
KEY_REPEAT_S = 0.03      # a terminal's auto-repeat interval
SETTLE_S = 0.35          # s beyond the deadman for the target to decelerate and the PD arm to settle
STILL = 0.05             # rad/s: "stopped"


def teleop_graph():
    return load_graph(share_dir() / "config" / "teleop_sim.yaml")


@pytest.fixture
def session(ros_domain_id):
    graph = teleop_graph()
    runner = GraphRunner(graph, domain_id=ros_domain_id, overrides={"sim": SIM}).start()
    probe = Probe(runner.context)
    arm: list[tuple[float, np.ndarray, np.ndarray]] = []
    probe.node.create_subscription(
        JointState, "/joint_states", lambda m: arm.append((time.monotonic(), np.array(m.position), np.array(m.velocity))),
        qos.SENSOR)
    raw: list[tuple[float, JointTrajectory]] = []
    probe.node.create_subscription(JointTrajectory, "/arm/command_raw", lambda m: raw.append((time.monotonic(), m)), qos.COMMAND)
    safe: list[tuple[float, JointTrajectory]] = []
    probe.node.create_subscription(JointTrajectory, "/arm/command", lambda m: safe.append((time.monotonic(), m)), qos.COMMAND)
    keys = probe.publisher(String, "/teleop/keys", qos.COMMAND)
    safety = runner.node("safety")
    probe.spin_until(lambda: safety.filter.output is not None and len(raw) > 5 and keys.get_subscription_count() > 0,
                     20.0, "the safety filter and the teleop node's first holds")
    yield dataclasses.make_dataclass("Session", ["runner", "probe", "arm", "raw", "safe", "keys"])(
        runner, probe, arm, raw, safe, keys)
    probe.close()
    runner.shutdown()


def type_keys(session, text: str, seconds: float) -> list[float]:
    """Hold `text`'s keys for `seconds` as a terminal's auto-repeat would send them; press times."""
    sent = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        session.keys.publish(String(data=text))
        sent.append(time.monotonic())
        session.probe.spin_for(KEY_REPEAT_S)
    return sent


def test_a_keyboard_session_moves_the_sim_arm_within_limits_and_it_stops_when_the_keys_stop(session):
    spec = session.runner.node("teleop").spec
    names = spec.joint_names
    kin = SimToolKinematics()
    start_q = session.arm[-1][1][:6].copy()
    start_tool = np.array(kin.tool_position(start_q))
    holds = len(session.raw)
    session.probe.spin_for(0.3)
    # no input: the teleop node publishes holds of where the arm is
    held = np.array([command_from_trajectory(m, names) for _, m in session.raw[holds:]])
    assert len(held) >= 5 and np.abs(held[:, :6] - start_q).max() < 0.01

    first_raw = len(session.raw)
    pressed = type_keys(session, "iu", 1.2)   # forward and up, held 1.2 s
    last_key = pressed[-1]
    session.probe.spin_for(DEADMAN_S + SETTLE_S + 0.5)

    tool = np.array(kin.tool_position(session.arm[-1][1][:6]))
    moved = tool - start_tool
    assert moved[0] > 0.02 and moved[2] > 0.02, f"tool moved {moved} m; expected forward (+x) and up (+z)"

    lower, upper = spec.limits.lower, spec.limits.upper
    positions = np.array([q for _, q, _ in session.arm])
    assert np.all(positions[:, :6] >= lower[:6] - 1e-3) and np.all(positions[:, :6] <= upper[:6] + 1e-3)
    safe = np.array([command_from_trajectory(m, names) for _, m in session.safe])
    assert np.all(safe >= lower - 1e-9) and np.all(safe <= upper + 1e-9)
    commanded = np.array([command_from_trajectory(m, names) for _, m in session.raw[first_raw:]])
    speed = np.abs(np.diff(commanded, axis=0)).max(axis=0) * 50.0  # rad/s at the 50 Hz tick grid
    assert np.all(speed <= spec.limits.max_velocity * 0.5 + 1e-6), f"teleop joint speeds {speed}"

    # the arm stops: every joint below STILL from some time within deadman + settling after the last key
    after = [(t, np.abs(v[:6]).max()) for t, _, v in session.arm if t > last_key]
    moving = [t for t, s in after if s > STILL]
    stop_at = (moving[-1] if moving else last_key) - last_key
    assert stop_at <= DEADMAN_S + SETTLE_S, f"arm still moving {stop_at:.3f} s after the last key"
    print(f"\nstop time after the last key: {stop_at * 1000:.0f} ms (deadman {DEADMAN_S * 1000:.0f} ms)")

    # latency: the first key to the first teleop command that moves, and to the safe command
    first_key = pressed[0]
    moves = [t for t, m in session.raw[first_raw:] if np.abs(command_from_trajectory(m, names)[:6] - start_q).max() > 1e-5]
    print(f"key -> /arm/command_raw: {(moves[0] - first_key) * 1000:.1f} ms")


def test_teleop_state_reports_its_source_and_whether_input_is_live(session):
    states = session.probe.subscribe(String, "/teleop/state", qos.STATE)
    type_keys(session, "i", 0.7)
    session.probe.spin_until(lambda: any(json.loads(s.data)["active"] for s in states), 3.0, "an active state")
    assert json.loads(states[-1].data)["source"] == "keyboard"


def test_a_safety_stop_makes_teleop_restart_from_where_the_arm_is(session):
    estop = session.probe.publisher(Bool, "/safety/estop", qos.LATCHED)
    estop.publish(Bool(data=True))
    teleop = session.runner.node("teleop")
    session.probe.spin_until(lambda: teleop._stopped, 5.0, "the teleop node to see the stop")
    before = len(session.arm)
    type_keys(session, "i", 0.5)   # keys while stopped move nothing
    motion = np.array([q for _, q, _ in session.arm[before:]])
    assert np.abs(motion[:, :6] - motion[0, :6]).max() < 0.01
