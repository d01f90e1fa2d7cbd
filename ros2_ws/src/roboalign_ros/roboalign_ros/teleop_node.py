"""teleop_node: an operator drives the arm through the same safety node as the policy.

  /joint_states        (JointState, sensor QoS)                    in: where the arm is
  /teleop/keys         (String, reliable)                          in: key characters (the operator
                                                                       console forwards its keys here)
  <leader.topic>       (JointState, sensor QoS)                    in: source leader only
  /safety/stopped      (Bool, reliable + transient_local)          in: a protective stop
  /arm/command_raw     (JointTrajectory, one point, control rate)  out: where the policy's executor
                                                                       publishes; the safety node
                                                                       filters it into /arm/command
  /teleop/state        (String JSON, 2 Hz)                         out: source, active, input age

The logic is roboalign.teleop (plain Python): a source (keyboard, gamepad, spacemouse, leader)
yields a twist or joint targets; TeleopController applies the deadman, differential IK
(pinocchio, damped least squares), joint limits with margins, velocity and acceleration limits.
This node is wiring: it polls the source and publishes the controller's target each control
tick, stamped on the tick grid (as the executor does, so the safety filter sees even periods).

No input (none yet, a deadman timeout, a lost device) -> the controller's target decelerates
and holds where the arm is: the node keeps publishing that hold, so the safety node's watchdog
never has to act in a normal session. Nothing is published before the first joint state. A
safety stop resets the controller: after the stop clears, the target starts from the measured
joints (the arm never jumps to where the operator's input went meanwhile).
"""
# No `from __future__ import annotations`: rclpy hands a timer callback its TimerInfo only when
# the parameter's annotation is the class itself.
import json
import threading
import time

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from rclpy.timer import TimerInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from roboalign.control.estop_input import InputLost
from roboalign.teleop.config import SOURCES, load_teleop_config
from roboalign.teleop.controller import build_controller
from roboalign.teleop.input import TeleopInput
from roboalign.teleop.keyboard import KeyboardTeleop
from roboalign.teleop.leader import LeaderArmMapping
from roboalign_ros import qos
from roboalign_ros.conversions import command_to_trajectory, joint_state_from_msg
from roboalign_ros.params import ParameterError, declare, load_robot_spec, refuse_undeclared, spin_node

MAX_STEP_PERIODS = 5  # a late tick integrates at most this many periods (a stall never becomes a leap)


class TeleopNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("teleop", **kwargs)
        robot = declare(self, "robot", "sim", "'sim' or a RobotSpec YAML path (joint names, limits, kinematics)")
        path = declare(self, "config", "", "TeleopConfig YAML (configs/teleop/<source>.yaml); empty = defaults")
        source = declare(self, "source", "", f"overrides the config's source: one of {', '.join(SOURCES)}")
        overrides = declare(self, "overrides", [], "dotted overrides of the config, e.g. "
                            "['controller.deadman_s=0.3']", element=str)
        rate = declare(self, "control_rate_hz", 50.0, "command rate (Hz)", low=1.0, high=1000.0)
        terminal = declare(self, "terminal", False, "keyboard: also read keys from this node's terminal")
        refuse_undeclared(self)
        if source and source not in SOURCES:
            raise ParameterError(self.get_name(), "source", f"source: must be one of {', '.join(SOURCES)}, got {source!r}")
        self.config = load_teleop_config(path or None, [*overrides, *([f"source={source}"] if source else [])])
        self.spec = load_robot_spec(robot)
        self.source = self.config.source
        self.controller = build_controller(self.spec, self.config.controller, needs_ik=self.source != "leader")
        self.period = 1.0 / rate
        self._period_ns = int(round(self.period * 1e9))
        self._lock = threading.Lock()
        self._measured: np.ndarray | None = None
        self._stopped = False
        self._last_tick_ns = -1
        self.device_error = ""
        self.counts = {"published": 0, "keys": 0, "active_ticks": 0}
        self.keyboard = KeyboardTeleop(self.config.keyboard)
        self.leader = LeaderArmMapping(self.spec.joint_names, self.config.leader) if self.source == "leader" else None
        self.device = self._open_device()
        self._terminal = None
        self._terminal = self._open_terminal() if terminal and self.source == "keyboard" else None
        self._pub = self.create_publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self._state_pub = self.create_publisher(String, "/teleop/state", qos.STATE)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos.SENSOR)
        self.create_subscription(String, "/teleop/keys", self._on_keys, qos.COMMAND)
        self.create_subscription(Bool, "/safety/stopped", self._on_stopped, qos.LATCHED)
        if self.leader is not None:
            self.create_subscription(JointState, self.config.leader.topic, self._on_leader, qos.SENSOR)
        self.create_timer(self.period, self._on_timer)
        self.create_timer(0.5, self._publish_state)

    # ---- devices ---------------------------------------------------------------------------
    def _open_device(self):
        """The gamepad or 3D mouse; a missing one is logged and the arm holds (fail closed)."""
        try:
            if self.source == "gamepad":
                from roboalign.teleop.gamepad import GamepadTeleop

                return GamepadTeleop(self.config.gamepad)
            if self.source == "spacemouse":
                from roboalign.teleop.spacemouse import SpaceMouseTeleop

                return SpaceMouseTeleop(self.config.spacemouse)
        except InputLost as exc:
            self._device_lost(str(exc))
        return None

    def _device_lost(self, why: str) -> None:
        self.device_error = why
        self.get_logger().error(f"teleop input unavailable: {why}; holding the arm")

    def _open_terminal(self):
        import os
        import sys

        from roboalign.teleop.keyboard import TerminalKeyReader

        try:
            reader = TerminalKeyReader(sys.stdin.fileno() if os.isatty(sys.stdin.fileno()) else
                                       os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        except (OSError, InputLost) as exc:
            self._device_lost(f"no terminal for keyboard teleop ({exc}); keys still arrive on /teleop/keys")
            return None
        thread = threading.Thread(target=self._read_terminal, args=(reader,), name="teleop-keys", daemon=True)
        thread.start()
        return reader

    def _read_terminal(self, reader) -> None:
        while self._terminal is not False:
            try:
                chars = reader.read(0.05)
            except (OSError, EOFError) as exc:
                self._device_lost(f"terminal lost: {exc}")
                return
            if chars:
                with self._lock:
                    self.counts["keys"] += self.keyboard.feed(chars, time.monotonic())

    # ---- inputs ------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q, _ = joint_state_from_msg(msg, self.spec.joint_names)
        except ValueError:
            return  # the safety node reports malformed joint states
        with self._lock:
            self._measured = q

    def _on_keys(self, msg: String) -> None:
        with self._lock:
            self.counts["keys"] += self.keyboard.feed(msg.data, time.monotonic())

    def _on_leader(self, msg: JointState) -> None:
        with self._lock:
            self.leader.on_joint_state(list(msg.name), list(msg.position), time.monotonic())

    def _on_stopped(self, msg: Bool) -> None:
        with self._lock:
            stopped = bool(msg.data)
            if stopped != self._stopped:
                self.controller.reset()  # restart from the measured joints once the stop clears
            self._stopped = stopped

    def _read_input(self, now: float) -> TeleopInput:
        if self.source == "keyboard":
            return self.keyboard.read(now)
        if self.source == "leader":
            return self.leader.read()
        if self.device is None:
            return TeleopInput.idle()
        try:
            return self.device.poll(now)
        except InputLost as exc:
            self._device_lost(str(exc))
            self.device = None
            return TeleopInput.idle()

    # ---- output ------------------------------------------------------------------------------
    def _on_timer(self, info: TimerInfo) -> None:
        expected, actual = info.expected_call_time.nanoseconds, info.actual_call_time.nanoseconds
        tick_ns = expected + max(actual - expected, 0) // self._period_ns * self._period_ns
        if tick_ns <= self._last_tick_ns:
            return
        periods = 1 if self._last_tick_ns < 0 else min((tick_ns - self._last_tick_ns) // self._period_ns, MAX_STEP_PERIODS)
        self._last_tick_ns = tick_ns
        now = time.monotonic()
        with self._lock:
            if self._measured is None:
                return  # nothing to hold yet
            inp = self._read_input(now)
            if self._stopped:
                self.controller.reset()
                target = self._measured.copy()  # the safety node holds; say where the arm is
            else:
                target = self.controller.step(inp, self._measured, now, periods * self.period)
            self.counts["active_ticks"] += int(self.controller.active)
        stamp = Time(nanoseconds=tick_ns, clock_type=self.get_clock().clock_type).to_msg()
        self._pub.publish(command_to_trajectory(target, self.spec.joint_names, stamp, self.period))
        self.counts["published"] += 1

    def _publish_state(self) -> None:
        with self._lock:
            state = {"source": self.source, "active": bool(self.controller.active), "stopped": self._stopped,
                     "device_error": self.device_error, "published": self.counts["published"]}
        self._state_pub.publish(String(data=json.dumps(state)))

    def close(self) -> None:
        terminal, self._terminal = self._terminal, False
        if terminal:
            terminal.close()
        if self.device is not None:
            self.device.close()


def main(args=None) -> int:
    return spin_node(TeleopNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
