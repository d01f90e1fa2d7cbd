"""controller_bridge_node: the safety node's command to a ros2_control arm driver's controllers.

  /arm/command                           (JointTrajectory, one point, reliable)  in: the safe command,
                                         every joint of the RobotSpec, gripper included
  /<arm_controller>/joint_trajectory     (JointTrajectory, one point)            out: mode joint_trajectory
  /<arm_controller>/commands             (Float64MultiArray)                     out: mode forward_position
  /<gripper_controller>/joint_trajectory or /commands                            out: the gripper joint alone

Joints are matched by name (roboalign.robots.controller.CommandRouting): each controller gets
exactly its own joints, in the order of its `joints` parameter, so a JointTrajectoryController
never sees a joint it does not own. A JTC point is stamped so the controller accepts it
(PointTiming: header.stamp zero or the send time, time_from_start = lead_time > 0; why: the
docstring of roboalign.robots.controller). A command that is malformed (wrong joints,
non-finite) is dropped and counted, never forwarded: the controllers then hold what they have.

A managed (lifecycle) node, because a real arm should only move once someone says so:
  unconfigured --configure--> inactive   parameters read, robot spec loaded, the joint routing
                                         checked (a controller joint the robot lacks, a joint
                                         owned twice, an arm joint no controller owns: configure
                                         fails, the log says which); publishers created
  inactive --activate--> active          every command is forwarded
  active --deactivate--> inactive        nothing is forwarded; a JTC holds its last point, a
                                         forward command controller its last command
`autostart: true` configures and activates at start (the in-process runner and the sim graph);
on a robot the launch file configures and the operator activates:
`ros2 lifecycle set /controller_bridge activate` (docs/robot.md).
"""
from __future__ import annotations

import collections
import threading

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from roboalign.errors import ConfigError
from roboalign.robots.controller import (
    CONTROLLER_MODES,
    FORWARD_POSITION,
    HEADER_STAMPS,
    NO_GRIPPER,
    PointTiming,
    routing_from_parameters,
)
from roboalign_ros import qos
from roboalign_ros.conversions import (
    command_from_trajectory,
    command_to_trajectory,
    node_now,
    seconds_to_stamp,
    stamp_to_seconds,
)
from roboalign_ros.params import declare, load_robot_spec, refuse_undeclared, spin_node

LATENCY_WINDOW = 100_000  # samples kept (a few MB at most)


class ControllerBridgeNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("controller_bridge", **kwargs)
        self.params = {
            "robot": declare(self, "robot", "sim", "'sim' or a RobotSpec YAML path (joint names, gripper)"),
            "mode": declare(self, "mode", "joint_trajectory", f"arm controller kind: {' or '.join(CONTROLLER_MODES)}"),
            "arm_controller": declare(self, "arm_controller", "joint_trajectory_controller",
                                      "the arm controller's name (topic /<name>/joint_trajectory or /<name>/commands)"),
            "arm_joints": declare(self, "arm_joints", [], "the arm controller's joints in its order; "
                                  "empty = the spec's joints but the gripper, in spec order", element=str),
            "gripper_mode": declare(self, "gripper_mode", NO_GRIPPER,
                                    f"gripper controller kind: {NO_GRIPPER}, {' or '.join(CONTROLLER_MODES)}"),
            "gripper_controller": declare(self, "gripper_controller", "", "the gripper controller's name"),
            "gripper_joint": declare(self, "gripper_joint", "", "the gripper controller's joint; '' = the spec's gripper"),
            "lead_time": declare(self, "lead_time", 0.05, "s: time_from_start of each JTC point (>= the command period)",
                                 low=0.001, high=2.0),
            "header_stamp": declare(self, "header_stamp", "zero", f"JTC header.stamp: {' or '.join(HEADER_STAMPS)}"),
        }
        autostart = declare(self, "autostart", False, "configure and activate at start (else: lifecycle transitions)")
        refuse_undeclared(self)
        self.counts = {"forwarded": 0, "malformed": 0, "dropped_inactive": 0, "dropped_before_reset": 0}
        # ms from a command's stamp (when the executor made it) to its forwarding to the controllers
        self.latency_ms = {"command->controller": collections.deque(maxlen=LATENCY_WINDOW)}
        self.configure_error = ""
        self.active = False
        self.routing = None
        self._lock = threading.Lock()
        self._reset_stamp = -np.inf
        self._publishers: list = []
        self._subscription = None
        if autostart:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise ConfigError(f"controller_bridge cannot configure: {self.configure_error}")
            self.trigger_activate()

    # ---- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        try:
            spec = load_robot_spec(p["robot"])
            self.routing = routing_from_parameters(spec, p["mode"], p["arm_controller"], p["arm_joints"],
                                                   p["gripper_mode"], p["gripper_controller"], p["gripper_joint"])
            self.timing = PointTiming(p["lead_time"], p["header_stamp"])
        except (ValueError, OSError) as exc:  # ConfigError is a ValueError
            self.configure_error = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.spec = spec
        self._publishers = [
            self.create_lifecycle_publisher(Float64MultiArray if t.mode == FORWARD_POSITION else JointTrajectory,
                                            t.topic, qos.COMMAND)
            for t in self.routing.targets]
        self._subscription = self.create_subscription(JointTrajectory, "/arm/command", self._on_command, qos.COMMAND)
        routes = "; ".join(f"{t.topic} <- {', '.join(t.joints)}" for t in self.routing.targets)
        left = f"; not commanded: {', '.join(self.routing.uncommanded)}" if self.routing.uncommanded else ""
        self.get_logger().info(f"configured: {routes}{left}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self.active = True
        self.get_logger().info("active: forwarding /arm/command to the controllers")
        return super().on_activate(state)  # enables the lifecycle publishers

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self.active = False
        self.get_logger().info("inactive: forwarding nothing; the controllers hold their last command")
        return super().on_deactivate(state)

    def _release(self) -> None:
        with self._lock:
            self.active = False
        for pub in self._publishers:
            self.destroy_lifecycle_publisher(pub)
        self._publishers = []
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    # ---- forwarding -------------------------------------------------------------------------
    def _on_command(self, msg: JointTrajectory) -> None:
        with self._lock:
            if not self.active:
                self.counts["dropped_inactive"] += 1
                return
            if stamp_to_seconds(msg.header.stamp) < self._reset_stamp:
                self.counts["dropped_before_reset"] += 1
                return
            try:
                commands = self.routing.split(command_from_trajectory(msg, self.spec.joint_names))
            except ValueError as exc:
                self.counts["malformed"] += 1
                self.get_logger().error(f"command not forwarded: {exc}", throttle_duration_sec=1.0)
                return
            now = node_now(self)
            stamp, lead = self.timing.stamp(now)
            for command, pub in zip(commands, self._publishers):
                target = command.target
                if target.mode == FORWARD_POSITION:
                    pub.publish(Float64MultiArray(data=command.positions.tolist()))
                else:
                    pub.publish(command_to_trajectory(command.positions, target.joints, seconds_to_stamp(stamp), lead))
            self.counts["forwarded"] += 1
            self.latency_ms["command->controller"].append((now - stamp_to_seconds(msg.header.stamp)) * 1000.0)

    def reset_episode(self) -> None:
        """Between sim episodes: drop every command stamped before now."""
        with self._lock:
            self._reset_stamp = node_now(self)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def main(args=None) -> int:
    return spin_node(ControllerBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
