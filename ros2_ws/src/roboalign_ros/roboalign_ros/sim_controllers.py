"""The sim node's ros2_control side: the topics a real arm driver's controllers take, played by
roboalign.sim.controllers (JointTrajectoryController / forward command controller semantics).

  /<arm_controller>/joint_trajectory      (JointTrajectory)      mode joint_trajectory
  /<arm_controller>/commands              (Float64MultiArray)    mode forward_position
  /<gripper_controller>/joint_trajectory  or  /commands          the gripper joint alone

The arm controller owns joint1..joint6, the gripper controller the `gripper` joint (0 open ..
1 closed), the names the sim publishes on /joint_states. QoS: reliable, volatile, like the
controllers' rclcpp::SystemDefaultsQoS subscriptions.

An episode reset teleports the arm, which a real one never is: it drops every message already
waiting in the subscriptions (reset runs while the node's callbacks are paused) and forgets
the controllers' trajectories; a message stamped (non-zero) before the reset and arriving
later is dropped too. A zero stamp ("start now") carries no time to tell.
"""
from __future__ import annotations

import collections

import numpy as np
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from roboalign.core.robot import RobotSpec
from roboalign.robots.controller import FORWARD_POSITION, NO_GRIPPER, ControllerTarget
from roboalign.sim.controllers import (
    CommandRejected,
    SimForwardController,
    SimTrajectoryController,
    TrajectoryMessage,
    TrajectoryPoint,
)
from roboalign_ros import qos
from roboalign_ros.conversions import duration_to_seconds, node_now, stamp_to_seconds

LATENCY_WINDOW = 100_000  # samples kept (a few MB at most)


def trajectory_message(msg: JointTrajectory) -> TrajectoryMessage:
    return TrajectoryMessage(
        joint_names=tuple(msg.joint_names), stamp=stamp_to_seconds(msg.header.stamp),
        points=tuple(TrajectoryPoint(tuple(p.positions), duration_to_seconds(p.time_from_start)) for p in msg.points))


class SimControllerInterface:
    """Subscriptions and controllers of the sim arm in `command_interface: ros2_control`.

    `lock` is the sim node's lock (held by every callback here); `reset_stamp` a callable giving
    the ROS time of the last reset. `command(now, measured, target)` writes the controllers'
    desired positions into `target` (RobotSpec order) and is called by the physics tick."""

    def __init__(self, node, spec: RobotSpec, lock, reset_stamp, arm_controller: str, arm_mode: str,
                 gripper_controller: str, gripper_mode: str, interpolate_from_desired_state: bool) -> None:
        self.node = node
        self._lock = lock
        self._reset_stamp = reset_stamp
        gripper = spec.joint_names[spec.gripper_index]
        arm_joints = tuple(j for j in spec.joint_names if j != gripper)
        targets = [ControllerTarget(arm_mode, arm_controller, arm_joints)]
        if gripper_mode != NO_GRIPPER:
            targets.append(ControllerTarget(gripper_mode, gripper_controller, (gripper,)))
        self.counts = {"dropped_before_reset": 0, "rejected": 0, "accepted": 0}
        # ms from a stamped message's stamp to its acceptance (zero-stamped ones carry no time)
        self.latency_ms: collections.deque = collections.deque(maxlen=LATENCY_WINDOW)
        self._controllers = []
        self._subscriptions = []
        for target in targets:
            if target.mode == FORWARD_POSITION:
                controller = SimForwardController(target.joints)
                callback = self._forward_callback(controller)
                sub = node.create_subscription(Float64MultiArray, target.topic, callback, qos.COMMAND)
            else:
                controller = SimTrajectoryController(target.joints, interpolate_from_desired_state)
                callback = self._trajectory_callback(controller, target.controller)
                sub = node.create_subscription(JointTrajectory, target.topic, callback, qos.COMMAND)
            index = np.array([spec.joint_names.index(j) for j in target.joints])
            self._controllers.append((controller, index))
            self._subscriptions.append(sub)
        self.topics = tuple(t.topic for t in targets)

    def _trajectory_callback(self, controller: SimTrajectoryController, name: str):
        def on_message(msg: JointTrajectory) -> None:
            with self._lock:
                now = node_now(self.node)
                stamp = stamp_to_seconds(msg.header.stamp)
                if stamp != 0.0 and stamp < self._reset_stamp():
                    self.counts["dropped_before_reset"] += 1
                    return
                try:
                    controller.receive(trajectory_message(msg), now)
                except CommandRejected as exc:
                    self.counts["rejected"] += 1
                    self.node.get_logger().error(f"{name}: {exc}", throttle_duration_sec=1.0)
                    return
                self.counts["accepted"] += 1
                if stamp != 0.0:
                    self.latency_ms.append((now - stamp) * 1000.0)
        return on_message

    def _forward_callback(self, controller: SimForwardController):
        def on_message(msg: Float64MultiArray) -> None:
            with self._lock:
                try:
                    controller.receive(list(msg.data), node_now(self.node))
                except CommandRejected as exc:
                    self.counts["rejected"] += 1
                    self.node.get_logger().error(f"forward command: {exc}", throttle_duration_sec=1.0)
                    return
                self.counts["accepted"] += 1
        return on_message

    def command(self, now: float, measured: np.ndarray, target: np.ndarray) -> None:
        """Write each controller's desired positions at `now` into `target` (RobotSpec order);
        joints of a controller that has had no command keep theirs. Caller holds the lock."""
        for controller, index in self._controllers:
            desired = controller.update(now, measured[index])
            if desired is not None:
                target[index] = desired

    def reset(self) -> None:
        """Drop the messages waiting in the subscriptions and forget every trajectory and command.
        Call while no callback of the node runs (the runner's pause, or a callback of its own
        single-threaded executor), holding the lock."""
        for sub in self._subscriptions:
            with sub.handle:  # what the executor does to take a message, without the callback
                while sub.handle.take_message(sub.msg_type, sub.raw) is not None:
                    self.counts["dropped_before_reset"] += 1
        for controller, _ in self._controllers:
            controller.reset()
