"""safety_node: every joint command passes through roboalign.control.safety.SafetyFilter.

  /arm/command_raw  (JointTrajectory, one point, reliable)   in: what the executor wants
  /joint_states     (JointState, sensor QoS)                 in: initialises the filter; freshness,
                                                                 following error
  /safety/estop     (Bool, reliable + transient_local)       in: True latches the e-stop; each source
                                                                 repeats its state (the heartbeat)
  /arm/command      (JointTrajectory, one point, reliable)   out: the safe command
  /safety/stopped   (Bool, reliable + transient_local)       out: True while a stop holds the arm
                                                                 (the executor drops its chunk)
  /safety/state     (DiagnosticArray, 2 Hz by default)       out: state, why it acted, counts
  /safety/reset     (std_srvs/Trigger)                       clears latched stops
  <driver_stop_service> (std_srvs/Trigger, client)           called asynchronously on every stop

Stops (roboalign.control.guard.SafetyGuard, the logic; this node is wiring): an asserted
e-stop, a missing e-stop heartbeat (require_estop_heartbeat: every source on /safety/estop
must repeat its state within estop_heartbeat_timeout; sources are told apart by publisher),
joint states that stop or freeze for joint_state_timeout, and a following error beyond
following_error_limit for following_error_time (measured against the commands sent over the
last following_delay s). A stop makes the filter brake at its acceleration limit and hold,
publishes /safety/stopped True and calls the driver's stop service. Stale joint states clear
themselves once fresh ones return; the others are latched until /safety/reset.

Timing: each incoming command is filtered the moment it arrives (no phase lag between two
timers), at the time it is meant for: its header stamp, mapped onto the monotonic clock. So
the limits apply to the commanded trajectory as its producer timed it, not to the jitter of
its delivery (a command that arrives 5 ms after the previous one is still 20 ms of motion).
A timer at the control rate steps the filter without a command whenever none came for
COMMAND_GAP_PERIODS periods, which is what makes the watchdog decelerate and hold (well inside
watchdog_timeout); the watchdog runs on the
monotonic clock. A command stamped before the last reset, or older than max_command_age on
arrival, is dropped (counted) and never replayed. The safe command keeps the stamp of the
command it answers, so downstream latency is measured from the command's creation.

Reset semantics: /safety/reset is refused while /safety/estop still says True, while a required
heartbeat is missing and while joint states are stale. Otherwise it clears the latch and the
filter re-initialises from the next joint state; the output holds still until a command
stamped after the reset arrives (a reset alone never moves the arm). The same holds after a
stop clears itself. `reset_episode()` (used by the in-process runner between episodes) does
the same without an operator, but never clears an asserted e-stop or a missing heartbeat.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import rclpy.subscription
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from roboalign.control.guard import GuardConfig, SafetyGuard, StopReason
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
from roboalign_ros.driver_stop import DriverStop
from roboalign_ros.params import declare, load_robot_spec, refuse_undeclared, spin_node

# rclpy >= Jazzy passes a MessageInfo (publisher GID) to 2-argument callbacks: each e-stop
# publisher is then its own heartbeat source. Older rclpy: all publishers count as one.
_PER_SOURCE = hasattr(rclpy.subscription, "MessageInfo")


# Periods without a command before the timer steps the filter on its own. Not 1.5: when the
# control thread stalls, a command stepped late by the timer makes the next real command (with
# an earlier stamp) arrive behind a moving plan, and the filter then limits several ticks of a
# smooth plan (measured at load ~4: 22 % of ticks limited at 1.5 periods, 3.4 % at 4, 0 % with
# the executor also publishing the ticks it missed). 4 periods (80 ms at 50 Hz) stays far inside
# the watchdog timeout (0.25 s).
COMMAND_GAP_PERIODS = 4.0

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
        guard_config = self._declare_guard()
        driver_stop = declare(self, "driver_stop_service", "", "std_srvs/Trigger service of the arm driver called "
                              "on every stop (e.g. /dashboard_client/stop of the UR driver); empty = none")
        refuse_undeclared(self)
        self.spec = load_robot_spec(robot)
        self.filter = SafetyFilter(self.spec, config, self._kinematics(config, tool_offset))
        self.guard = SafetyGuard(self.spec, guard_config)
        self.period = config.control_period
        self.counts = {"dropped_before_reset": 0, "dropped_too_old": 0, "malformed": 0, "published": 0}
        self.last_decision = None
        self.max_deviation = 0.0      # rad: largest |safe - requested| since the last episode reset
        self.hold_reason = "no command yet"  # why the output last went to hold (the watchdog)
        self._lock = threading.Lock()  # the runner thread calls reset_episode() while we spin
        self._reset_stamp = -np.inf   # ROS seconds: commands stamped earlier are dropped
        self._needs_init = True       # initialise from the next joint state stamped after reset
        self._last_command = -np.inf  # monotonic seconds of the last step driven by a command
        self._stopped = False         # the guard's verdict as last acted on (and published)
        self._driver_stop = DriverStop(self, driver_stop) if driver_stop else None
        self._pub = self.create_publisher(JointTrajectory, "/arm/command", qos.COMMAND)
        self._stopped_pub = self.create_publisher(Bool, "/safety/stopped", qos.LATCHED)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/safety/state", qos.STATE)
        self.create_subscription(JointTrajectory, "/arm/command_raw", self._on_command, qos.COMMAND)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos.SENSOR)
        self._source_names: dict[bytes, str] = {}  # publisher GID -> its node, once discovered
        on_estop = (lambda msg, info: self._on_estop(msg, _publisher_gid(info))) if _PER_SOURCE else self._on_estop
        self.create_subscription(Bool, "/safety/estop", on_estop, qos.LATCHED)
        self.create_service(Trigger, "/safety/reset", self._on_reset)
        self.create_timer(self.period, self._on_timer)
        self.create_timer(1.0 / diag_rate, self._publish_state)
        with self._lock:
            self._sync(time.monotonic(), initial=True)

    def _declare_guard(self) -> GuardConfig:
        required = declare(self, "require_estop_heartbeat", True, "every /safety/estop source must repeat its "
                           "state within estop_heartbeat_timeout, else e-stop (false only where no person "
                           "holds an e-stop: simulation, tests)")
        heartbeat = declare(self, "estop_heartbeat_timeout", 0.5, "s: an e-stop source silent longer = e-stop",
                            low=0.02, high=10.0)
        return GuardConfig(
            joint_state_timeout=declare(self, "joint_state_timeout", 0.2, "s without a new /joint_states stamp "
                                        "before stopping", low=0.005, high=10.0),
            following_error_limit=declare(self, "following_error_limit", 0.2, "rad the measured arm may leave "
                                          "the envelope of its recent commands", low=0.001, high=6.3),
            following_delay=declare(self, "following_delay", 0.25, "s of commands the measured arm may lag "
                                    "behind (controller + transport delay)", low=0.0, high=5.0),
            following_error_time=declare(self, "following_error_time", 0.1, "s the following error must last "
                                         "before stopping", low=0.0, high=5.0),
            estop_heartbeat_timeout=heartbeat if required else None,
        )

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
            stamp = stamp_to_seconds(msg.header.stamp)
            try:
                q, _ = joint_state_from_msg(msg, self.spec.joint_names)
            except ValueError as exc:  # not fresh either: a driver sending junk goes stale
                self.get_logger().error(f"unusable /joint_states: {exc}", throttle_duration_sec=2.0)
                return
            fresh = self.guard.on_joint_state(stamp, q, time.monotonic())
            if fresh and self._needs_init and stamp >= self._reset_stamp:
                try:
                    self.filter.initialize(q)
                except ValueError as exc:
                    self.get_logger().error(f"cannot initialise from /joint_states: {exc}", throttle_duration_sec=2.0)
                else:
                    self._needs_init = False
                    self.guard.restart_following()
                    self.get_logger().info("safety filter initialised from measured joints")
            self._sync(time.monotonic())

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
            self.guard.tick(now)
            self._sync(now)
            if self._driver_stop is not None and self._stopped:
                self._driver_stop.retry()
            if now - self._last_command > COMMAND_GAP_PERIODS * self.period:
                self._step(None, now)

    def _on_estop(self, msg: Bool, gid: bytes = b"") -> None:
        name = self._source_name(gid)
        with self._lock:
            now = time.monotonic()
            self.guard.on_estop(gid or "any", bool(msg.data), now, name)
            self._sync(now)

    def _source_name(self, gid: bytes) -> str:
        """The node publishing with this GID, for diagnostics ("publisher <id>" until discovered)."""
        if not gid:
            return "a publisher"
        name = self._source_names.get(gid)
        if name is None:
            for info in self.get_publishers_info_by_topic("/safety/estop"):
                if bytes(info.endpoint_gid) == gid and not info.node_name.startswith("_NODE_NAME_UNKNOWN"):
                    name = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
                    self._source_names[gid] = name
                    break
        return name or f"publisher {gid.hex()[-8:]}"

    @property
    def estop_asserted(self) -> bool:
        """Some source on /safety/estop says True now."""
        return self.guard.estop.asserted

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            answer = self.guard.reset(time.monotonic())
            response.success, response.message = answer.accepted, answer.message
            if answer.accepted:
                self._restart()
                self._sync(time.monotonic())
        if answer.accepted:  # two call sites: rclpy refuses one site logging at two severities
            self.get_logger().info(f"/safety/reset accepted: {answer.message}")
        else:
            self.get_logger().warning(f"/safety/reset refused: {answer.message}")
        return response

    def reset_episode(self) -> None:
        """Between episodes: clear what reset would (never an asserted e-stop or a missing
        heartbeat), drop every command stamped before now, re-initialise from the next joint state."""
        with self._lock:
            self.guard.reset_episode(time.monotonic())
            self._restart()
            self._sync(time.monotonic())
            self.max_deviation = 0.0

    def _restart(self) -> None:
        """After a reset or a stop that cleared: start again from the measured joints, and move
        only for commands stamped from now on (caller holds the lock)."""
        if not self.guard.stopped:
            self.filter.reset()
        self._reset_stamp = node_now(self)
        self._needs_init = True

    def _sync(self, now: float, initial: bool = False) -> None:
        """Act on the guard's verdict when it changed (caller holds the lock): stop the filter,
        tell the executor and the driver; or, once every stop cleared, start afresh."""
        stopped = self.guard.stopped
        if stopped == self._stopped and not initial:
            return
        self._stopped = stopped
        if stopped:
            self.filter.estop()
            if not initial:
                self.get_logger().warning(f"STOP: {self.guard.reason}; holding still")
                if self._driver_stop is not None:
                    self._driver_stop.request(self.guard.reason)
        else:
            self._restart()
            if self._driver_stop is not None:
                self._driver_stop.cancel()
            if not initial:
                self.get_logger().info("stop cleared: re-initialising from the measured joints; "
                                       "moving again on the next fresh command")
        self._stopped_pub.publish(Bool(data=stopped))

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
            watchdog = [r for r in decision.reasons if r.startswith("watchdog")]
            if watchdog:
                self.hold_reason = watchdog[0]
                self.get_logger().warning(watchdog[0])
        if decision.command is None:
            return
        if stamp is None:
            stamp = self.get_clock().now().to_msg()
        self._pub.publish(command_to_trajectory(decision.command, self.spec.joint_names, stamp, self.period))
        self.counts["published"] += 1
        self.guard.on_command_sent(decision.command, time.monotonic())

    def _all_counts(self) -> dict[str, int]:
        counts = {**self.filter.counts, **self.counts}
        counts.update({f"stops_{k}": v for k, v in self.guard.counts.items()})
        if self._driver_stop is not None:
            counts.update(self._driver_stop.counts)
        return counts

    def intervention_counts(self) -> dict[str, int]:
        """Filter states, stops per reason and node-level drops, for summaries (thread-safe copy)."""
        with self._lock:
            return self._all_counts()

    def _publish_state(self) -> None:
        with self._lock:
            decision = self.last_decision
            counts = self._all_counts()
            stopped, guard = self.guard.stopped, self.guard.status(time.monotonic())
            estopped = any(r in self.guard.active for r in (StopReason.ESTOP, StopReason.HEARTBEAT))
            initialised = not self._needs_init
            hold_reason = self.hold_reason
        status = DiagnosticStatus(name="roboalign/safety", hardware_id=self.spec.name)
        state = decision.state.value if decision is not None else "uninitialised"
        if stopped:
            status.level, status.message = DiagnosticStatus.ERROR, f"stopped: {guard['stop_reason']}"[:500]
        elif not initialised:
            status.level, status.message = DiagnosticStatus.WARN, "waiting for /joint_states: holding still"
        elif state == SafetyState.HOLD.value:
            status.level, status.message = DiagnosticStatus.WARN, f"hold ({hold_reason}): holding still"
        else:
            status.level, status.message = DiagnosticStatus.OK, state
        values = [KeyValue(key="state", value=state), KeyValue(key="stopped", value=str(stopped)),
                  KeyValue(key="estop_latched", value=str(estopped))]
        values += [KeyValue(key=k, value=str(v)[:500]) for k, v in guard.items()]
        values += [KeyValue(key=k, value=str(v)) for k, v in counts.items()]
        if decision is not None and decision.reasons:
            values.append(KeyValue(key="reasons", value="; ".join(decision.reasons)[:500]))
        status.values = values
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag_pub.publish(msg)


def _publisher_gid(info) -> bytes:
    """The e-stop source of a message: its publisher's GID (one key per publisher)."""
    gid = (info or {}).get("publisher_gid") or {}
    return bytes(gid.get("data", b""))


def main(args=None) -> int:
    return spin_node(SafetyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
