"""executor_node: plays policy chunks at control rate (roboalign.control.executor.ChunkExecutor).

  /policy/chunk      (JointTrajectory, header.stamp = chunk start, reliable)  in
  /safety/stopped    (Bool, reliable + transient_local)                       in: a protective stop
  /arm/command_raw   (JointTrajectory, one point, header.stamp = now)          out, control rate

Chunk times and the control clock are both ROS time. Chunks stamped before the last reset are
dropped. Nothing is published until a chunk has been accepted (the safety node then holds).
When the safety node stops the arm, the playing chunk is dropped and chunks are refused until
the stop clears; only a chunk stamped after that plays, so the arm never resumes by catching
up on a trajectory that went on while it stood still.
"""
from __future__ import annotations

import threading

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from roboalign.control.executor import ChunkExecutor
from roboalign_ros import qos
from roboalign_ros.conversions import chunk_from_trajectory, command_to_trajectory, node_now, stamp_to_seconds
from roboalign_ros.params import declare, load_robot_spec, refuse_undeclared, spin_node


class ExecutorNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("executor", **kwargs)
        robot = declare(self, "robot", "sim", "'sim' or a RobotSpec YAML path (joint names)")
        rate = declare(self, "control_rate_hz", 50.0, "command rate (Hz)", low=1.0, high=1000.0)
        crossfade = declare(self, "crossfade", 0.1, "s of blending when a newer chunk takes over", low=0.0, high=2.0)
        late = declare(self, "late_tolerance", 0.1, "s after its start time before a chunk counts as late", low=0.0, high=10.0)
        refuse_undeclared(self)
        self.spec = load_robot_spec(robot)
        self.period = 1.0 / rate
        self.chunks = ChunkExecutor(self.spec, crossfade=crossfade, late_tolerance=late)
        self.counts = {"malformed": 0, "dropped_before_reset": 0, "dropped_while_stopped": 0,
                       "flushed_by_stop": 0, "published": 0}
        self._lock = threading.Lock()
        self._reset_stamp = -np.inf
        self._safety_stopped = False
        self._pub = self.create_publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.create_subscription(JointTrajectory, "/policy/chunk", self._on_chunk, qos.COMMAND)
        self.create_subscription(Bool, "/safety/stopped", self._on_safety_stopped, qos.LATCHED)
        self.create_timer(self.period, self._on_timer)

    def _on_chunk(self, msg: JointTrajectory) -> None:
        now = node_now(self)
        with self._lock:
            if self._safety_stopped:
                self.counts["dropped_while_stopped"] += 1
                return
            if stamp_to_seconds(msg.header.stamp) < self._reset_stamp:
                self.counts["dropped_before_reset"] += 1
                return
            try:
                chunk = chunk_from_trajectory(msg, self.spec.joint_names)
            except ValueError as exc:
                self.counts["malformed"] += 1
                self.get_logger().warning(f"chunk dropped: {exc}", throttle_duration_sec=1.0)
                return
            result = self.chunks.submit(chunk, now=now)
        if not result.accepted:
            self.get_logger().warning(f"chunk not played: {result.reason}", throttle_duration_sec=1.0)

    def _on_timer(self) -> None:
        now_msg = self.get_clock().now()
        with self._lock:
            command = self.chunks.command(now_msg.nanoseconds * 1e-9)
        if command is None:
            return
        self._pub.publish(command_to_trajectory(command, self.spec.joint_names, now_msg.to_msg(), self.period))
        self.counts["published"] += 1

    def _on_safety_stopped(self, msg: Bool) -> None:
        with self._lock:
            stopped = bool(msg.data)
            if stopped and not self._safety_stopped:
                self.counts["flushed_by_stop"] += 1
            if stopped or self._safety_stopped:  # on the stop and again on its end
                self.chunks.reset()
                self._reset_stamp = node_now(self)
            self._safety_stopped = stopped

    def reset_episode(self) -> None:
        """Forget the playing chunk and drop chunks stamped before now."""
        with self._lock:
            self.chunks.reset()
            self._reset_stamp = node_now(self)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self.chunks.stats.to_dict(), **self.counts}


def main(args=None) -> int:
    return spin_node(ExecutorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
