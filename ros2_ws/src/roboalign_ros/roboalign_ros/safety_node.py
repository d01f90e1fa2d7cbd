"""safety_node: every joint command passes through roboalign.control.safety.SafetyFilter.

  /arm/command_raw  (JointTrajectory, one point, reliable)   in: what the executor wants
  /joint_states     (JointState, sensor QoS)                 in: initialises the filter
  /safety/estop     (Bool, reliable + transient_local)       in: True latches the e-stop
  /arm/command      (JointTrajectory, one point, reliable)   out: the safe command
  /safety/state     (DiagnosticArray, 2 Hz by default)       out: state, reasons, counts
  /safety/reset     (std_srvs/Trigger)                       clears the e-stop latch

Timing: each incoming command is filtered the moment it arrives (no phase lag between two
timers), at the time it is meant for: its header stamp, mapped onto the monotonic clock. So
the limits apply to the commanded trajectory as its producer timed it, not to the jitter of
its delivery (a command that arrives 5 ms after the previous one is still 20 ms of motion).
A timer at the control rate steps the filter without a command whenever none came for 1.5
periods, which is what makes the watchdog decelerate and hold; the watchdog runs on the
monotonic clock. A command stamped before the last reset, or older than max_command_age on
arrival, is dropped (counted) and never replayed. The safe command keeps the stamp of the
command it answers, so downstream latency is measured from the command's creation.

Reset semantics: /safety/reset is refused while /safety/estop still says True. Otherwise it
clears the latch; the output holds still until a command stamped after the reset arrives
(a reset alone never moves the arm). `reset_episode()` (used by the in-process runner between
episodes) also re-initialises the filter from the next joint state.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState
from roboalign.errors import ConfigError, RoboAlignError
from roboalign_ros import qos
from roboalign_ros.conversions import (
    command_from_trajectory,
    command_to_trajectory,
    joint_state_from_msg,
    node_now,
    stamp_to_seconds,
)
from roboalign_ros.params import declare, load_robot_spec, refuse_undeclared, spin_node


class SafetyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("safety", **kwargs)
        robot = declare(self, "robot", "sim", "'sim' or a RobotSpec YAML path (joint names and limits)")
        rate = declare(self, "control_rate_hz", 50.0, "watchdog/hold step rate (Hz)", low=1.0, high=1000.0)
        jerk = declare(self, "jerk_scale", 0.0, "fraction of the spec's jerk limit; 0 = no jerk limit", low=0.0, high=1.0)
        config = SafetyConfig(
            position_margin=declare(self, "position_margin", 0.02, "rad kept clear of arm joint limits", low=0.0, high=0.5),
            gripper_margin=declare(self, "gripper_margin", 0.0, "gripper units kept clear of its limits", low=0.0, high=0.5),
            velocity_scale=declare(self, "velocity_scale", 1.0, "fraction of the spec's velocity limits", low=0.01, high=1.0),
            acceleration_scale=declare(self, "acceleration_scale", 1.0, "fraction of the spec's acceleration limits", low=0.01, high=1.0),
            jerk_scale=jerk if jerk > 0.0 else None,
            watchdog_timeout=declare(self, "watchdog_timeout", 0.25, "s without a valid command before stopping", low=0.01, high=10.0),
            stale_deceleration_scale=declare(self, "stale_deceleration_scale", 1.0, "fraction of the acceleration limit used to stop on a stale stream", low=0.01, high=1.0),
            control_period=1.0 / rate,
            workspace_min=list(declare(self, "workspace_min", [-math.inf] * 3, "m: lowest tool point x, y, z "
                                        "(arm base frame); -inf = unbounded", element=float)),
            workspace_max=list(declare(self, "workspace_max", [math.inf] * 3, "m: highest tool point x, y, z "
                                        "(arm base frame); inf = unbounded", element=float)),
            table_height=declare(self, "table_height", -math.inf, "m: the tool point never goes below this z "
                                 "(arm base frame); -inf = no table"),
        )
        tool_offset = declare(self, "tool_offset", [0.0, 0.0, 0.0], "m: the tool point in the flange frame "
                              "(sim: the tcp site), for the workspace check", element=float)
        self.max_command_age = declare(self, "max_command_age", 0.5, "s: commands stamped older than this on arrival are dropped", low=0.0, high=60.0)
        diag_rate = declare(self, "diagnostics_rate_hz", 2.0, "rate of /safety/state (Hz)", low=0.1, high=50.0)
        refuse_undeclared(self)
        self.spec = load_robot_spec(robot)
        self.filter = SafetyFilter(self.spec, config, self._kinematics(config, tool_offset))
        self.period = config.control_period
        self.counts = {"dropped_before_reset": 0, "dropped_too_old": 0, "malformed": 0, "published": 0}
        self.last_decision = None
        self.max_deviation = 0.0      # rad: largest |safe - requested| since the last episode reset
        self._lock = threading.Lock()  # the runner thread calls reset_episode() while we spin
        self._estop_input = False
        self._reset_stamp = -np.inf   # ROS seconds: commands stamped earlier are dropped
        self._needs_init = True       # initialise from the next joint state stamped after reset
        self._last_command = -np.inf  # monotonic seconds of the last step driven by a command
        self._pub = self.create_publisher(JointTrajectory, "/arm/command", qos.COMMAND)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/safety/state", qos.STATE)
        self.create_subscription(JointTrajectory, "/arm/command_raw", self._on_command, qos.COMMAND)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos.SENSOR)
        self.create_subscription(Bool, "/safety/estop", self._on_estop, qos.LATCHED)
        self.create_service(Trigger, "/safety/reset", self._on_reset)
        self.create_timer(self.period, self._on_timer)
        self.create_timer(1.0 / diag_rate, self._publish_state)

    def _kinematics(self, config: SafetyConfig, tool_offset: list[float]):
        """FK of the tool point when a workspace bound is set (fails closed: a robot without a
        kinematic model, or without pinocchio for a DH table, refuses to start)."""
        if len(tool_offset) != 3:
            raise ConfigError(f"tool_offset: expected [x, y, z] in metres, got {list(tool_offset)}",
                              path=f"node {self.get_name()}")
        if not config.has_workspace:
            return None
        from roboalign.robots import kinematics_for  # lazy: pinocchio / mujoco only when needed

        try:
            return kinematics_for(self.spec, tool_offset)
        except ConfigError as exc:
            raise ConfigError(f"workspace: {exc.message}", path=f"node {self.get_name()}") from None
        except RoboAlignError as exc:
            raise ConfigError(f"workspace: {exc}", path=f"node {self.get_name()}") from None

    # ---- inputs ---------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        with self._lock:
            if not self._needs_init or stamp_to_seconds(msg.header.stamp) < self._reset_stamp:
                return
            try:
                q, _ = joint_state_from_msg(msg, self.spec.joint_names)
                self.filter.initialize(q)
            except ValueError as exc:
                self.get_logger().error(f"cannot initialise from /joint_states: {exc}", throttle_duration_sec=2.0)
                return
            self._needs_init = False
            self.get_logger().info("safety filter initialised from measured joints")

    def _on_command(self, msg: JointTrajectory) -> None:
        with self._lock:
            stamp = stamp_to_seconds(msg.header.stamp)
            if stamp < self._reset_stamp:
                self.counts["dropped_before_reset"] += 1
                return
            mono, ros = time.monotonic(), node_now(self)
            if self.max_command_age > 0 and ros - stamp > self.max_command_age:
                self.counts["dropped_too_old"] += 1
                return
            command, malformed = None, None
            try:
                command = command_from_trajectory(msg, self.spec.joint_names)
            except ValueError as exc:  # handled like a rejected command: keep tracking the last safe one
                malformed = str(exc)
                self.counts["malformed"] += 1
                self.get_logger().warning(f"malformed command rejected: {exc}", throttle_duration_sec=1.0)
            self._last_command = mono
            # The stamp on the monotonic clock; never in the future (clock skew between hosts).
            self._step(command, min(mono, stamp + (mono - ros)), msg.header.stamp, malformed)

    def _on_timer(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_command > 1.5 * self.period:
                self._step(None, now)

    def _on_estop(self, msg: Bool) -> None:
        with self._lock:
            self._estop_input = bool(msg.data)
            if self._estop_input and not self.filter.estopped:
                self.filter.estop()
                self.get_logger().warning("E-STOP latched: stopping; /safety/reset clears it once /safety/estop is False")

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            if self._estop_input:
                response.success = False
                response.message = "e-stop still asserted on /safety/estop: publish False there first"
                return response
            self.filter.reset()
            self._reset_stamp = node_now(self)
            response.success = True
            response.message = "e-stop cleared; holding still until a fresh command arrives"
            self.get_logger().info(response.message)
        return response

    def reset_episode(self) -> None:
        """Between episodes: clear the latch (unless the e-stop input is asserted), drop every
        command stamped before now, and re-initialise from the next joint state."""
        with self._lock:
            if not self._estop_input:
                self.filter.reset()
            self._reset_stamp = node_now(self)
            self._needs_init = True
            self.max_deviation = 0.0

    # ---- output ---------------------------------------------------------------------------
    def _step(self, command: np.ndarray | None, at: float, stamp=None, malformed: str | None = None) -> None:
        """One filter step at monotonic time `at` (caller holds the lock); publishes the safe
        command, stamped `stamp` (the answered command's) or now."""
        if self._needs_init:
            return  # the filter's last output may belong to an arm pose before a reset
        decision = self.filter.filter(command, at, rejected_reason=malformed)
        self.last_decision = decision
        self.max_deviation = max(self.max_deviation, decision.deviation)
        if decision.reasons and decision.state is not SafetyState.OK:
            self.get_logger().debug("; ".join(decision.reasons))
        if decision.command is None:
            return
        if stamp is None:
            stamp = self.get_clock().now().to_msg()
        self._pub.publish(command_to_trajectory(decision.command, self.spec.joint_names, stamp, self.period))
        self.counts["published"] += 1

    def intervention_counts(self) -> dict[str, int]:
        """Filter states and node-level drops, for summaries (thread-safe copy)."""
        with self._lock:
            return {**self.filter.counts, **self.counts}

    def _publish_state(self) -> None:
        with self._lock:
            decision = self.last_decision
            counts = {**self.filter.counts, **self.counts}
            estopped = self.filter.estopped
            initialised = not self._needs_init
        status = DiagnosticStatus(name="roboalign/safety", hardware_id=self.spec.name)
        state = decision.state.value if decision is not None else "uninitialised"
        if estopped:
            status.level, status.message = DiagnosticStatus.ERROR, "e-stop latched"
        elif not initialised or state == SafetyState.HOLD.value:
            status.level, status.message = DiagnosticStatus.WARN, f"{state}: holding still"
        else:
            status.level, status.message = DiagnosticStatus.OK, state
        values = [KeyValue(key="state", value=state), KeyValue(key="estop_latched", value=str(estopped))]
        values += [KeyValue(key=k, value=str(v)) for k, v in counts.items()]
        if decision is not None and decision.reasons:
            values.append(KeyValue(key="reasons", value="; ".join(decision.reasons)[:500]))
        status.values = values
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag_pub.publish(msg)


def main(args=None) -> int:
    return spin_node(SafetyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
