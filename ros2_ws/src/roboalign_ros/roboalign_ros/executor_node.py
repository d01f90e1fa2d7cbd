"""executor_node: plays policy chunks at control rate (roboalign.control.executor.ChunkExecutor:
real-time chunking with a velocity-continuous plan, or linear interpolation).

  /policy/chunk      (JointTrajectory, header.stamp = chunk start, reliable)  in
  /joint_states      (JointState, sensor QoS)                                 in: where the arm is
  /safety/stopped    (Bool, reliable + transient_local)                       in: a protective stop
  /arm/command_raw   (JointTrajectory, one point, header.stamp = its tick)     out, control rate

Chunk times and the control clock are both ROS time. Each command is the plan at its timer
tick's scheduled time, stamped with that time, not with the moment the callback happened to
run: the safety node filters a command at its stamp, so it sees the plan on an even grid of
control periods instead of the callbacks' scheduling jitter (measured: the jitter alone made
the filter limit ticks of a smooth plan). A callback that runs more than a period late (the
process was busy) also publishes the ticks it missed, oldest first, each the plan at its own
tick and stamped so, at most MAX_CATCH_UP of them: the filter then sees every tick of the plan
as it was timed (a gap of two periods would look like twice the speed), and the arm takes the
newest; after a longer stall only the newest tick is published. A chunk's delay (its arrival minus its
start, the observation's time) is measured by the executor. Chunks stamped before the last
reset are dropped. The first chunk after a reset joins from the latest measured joints (a joint
state stamped after the reset), so the plan starts where the arm is, at rest; without one it
starts on the chunk's own first point. Nothing is published until a chunk has been accepted (the
safety node then holds).

When the safety node stops the arm, the playing chunk is dropped and chunks are refused until
the stop clears; only a chunk stamped after that plays (joining from joints measured after it),
so the arm never resumes by catching up on a trajectory that went on while it stood still.
"""
# No `from __future__ import annotations` here: rclpy hands a timer callback its TimerInfo only
# when the parameter's annotation is the class itself, not a string.
import threading

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from rclpy.timer import TimerInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from roboalign.control.executor import INTERPOLATIONS, ChunkExecutor
from roboalign_ros import qos
from roboalign_ros.conversions import (
    chunk_from_trajectory,
    command_to_trajectory,
    joint_state_from_msg,
    node_now,
    stamp_to_seconds,
)
from roboalign_ros.params import ParameterError, declare, load_robot_spec, refuse_undeclared, spin_node

MAX_CATCH_UP = 5  # missed ticks published after a late callback (5 periods: 100 ms at 50 Hz)


class ExecutorNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("executor", **kwargs)
        robot = declare(self, "robot", "sim", "'sim' or a RobotSpec YAML path (joint names and limits)")
        rate = declare(self, "control_rate_hz", 50.0, "command rate (Hz)", low=1.0, high=1000.0)
        crossfade = declare(self, "crossfade", 0.1, "s (at least) over which a newer chunk takes over", low=0.0, high=2.0)
        late = declare(self, "late_tolerance", 0.1, "s after its start time before a chunk counts as late", low=0.0, high=10.0)
        interpolation = declare(self, "interpolation", "cubic", "'cubic' (real-time chunking, continuous velocity) or 'linear'")
        limit_scale = declare(self, "limit_scale", 0.9, "fraction of the spec's velocity/acceleration limits the cubic plan keeps within", low=0.01, high=1.0)
        margin = declare(self, "position_margin", 0.025, "rad the cubic plan keeps inside each arm joint's limits", low=0.0, high=0.5)
        gripper_margin = declare(self, "gripper_margin", 0.005, "gripper units the cubic plan keeps inside the gripper's limits", low=0.0, high=0.5)
        refuse_undeclared(self)
        if interpolation not in INTERPOLATIONS:
            raise ParameterError(self.get_name(), "interpolation",
                                 f"interpolation: must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
        self.spec = load_robot_spec(robot)
        self.period = 1.0 / rate
        try:
            self.chunks = ChunkExecutor(self.spec, crossfade=crossfade, late_tolerance=late, interpolation=interpolation,
                                        limit_scale=limit_scale, position_margin=margin, gripper_margin=gripper_margin)
        except ValueError as exc:  # margins that leave no room on some joint of this robot
            raise ParameterError(self.get_name(), "position_margin", f"position_margin: {exc}") from None
        self.counts = {"malformed": 0, "dropped_before_reset": 0, "dropped_while_stopped": 0,
                       "flushed_by_stop": 0, "published": 0}
        self._safety_stopped = False
        self._lock = threading.Lock()
        self._reset_stamp = -np.inf
        self._measured: np.ndarray | None = None  # latest joints stamped after the last reset (rad)
        self._pub = self.create_publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.create_subscription(JointTrajectory, "/policy/chunk", self._on_chunk, qos.COMMAND)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos.SENSOR)
        self.create_subscription(Bool, "/safety/stopped", self._on_safety_stopped, qos.LATCHED)
        self._period_ns = int(round(self.period * 1e9))
        self._last_tick_ns = -1
        self.create_timer(self.period, self._on_timer)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            positions, _ = joint_state_from_msg(msg, self.spec.joint_names)
        except ValueError:
            return  # the safety node reports malformed joint states; here they only mean "unknown"
        with self._lock:
            if stamp_to_seconds(msg.header.stamp) >= self._reset_stamp:
                self._measured = positions

    def _on_chunk(self, msg: JointTrajectory) -> None:
        now = node_now(self)
        with self._lock:
            if stamp_to_seconds(msg.header.stamp) < self._reset_stamp:
                self.counts["dropped_before_reset"] += 1
                return
            if self._safety_stopped:
                self.counts["dropped_while_stopped"] += 1
                return
            try:
                chunk = chunk_from_trajectory(msg, self.spec.joint_names)
            except ValueError as exc:
                self.counts["malformed"] += 1
                self.get_logger().warning(f"chunk dropped: {exc}", throttle_duration_sec=1.0)
                return
            if not self.chunks.active:  # nothing playing (start, or flushed): join from the arm
                self.chunks.reset(self._measured)
            result = self.chunks.submit(chunk, now=now)
        if not result.accepted:
            self.get_logger().warning(f"chunk not played: {result.reason}", throttle_duration_sec=1.0)

    def _on_safety_stopped(self, msg: Bool) -> None:
        with self._lock:
            stopped = bool(msg.data)
            if stopped and not self._safety_stopped:
                self.counts["flushed_by_stop"] += 1
            if stopped or self._safety_stopped:  # on the stop and again on its end
                self.chunks.reset()
                self._reset_stamp = node_now(self)
                self._measured = None  # the next chunk joins from joints measured after this
            self._safety_stopped = stopped

    def _on_timer(self, info: TimerInfo) -> None:
        # The newest tick due: rcl reports the oldest scheduled time it answers (a late call
        # answers ticks it then skips), so count whole periods from there to the actual call.
        expected, actual = info.expected_call_time.nanoseconds, info.actual_call_time.nanoseconds
        tick_ns = expected + max(actual - expected, 0) // self._period_ns * self._period_ns
        if tick_ns <= self._last_tick_ns:
            return  # this tick was served already
        missed = 0 if self._last_tick_ns < 0 else round((tick_ns - self._last_tick_ns) / self._period_ns) - 1
        ticks = [tick_ns - k * self._period_ns for k in range(missed if missed <= MAX_CATCH_UP else 0, -1, -1)]
        self._last_tick_ns = tick_ns
        clock_type = self.get_clock().clock_type
        for tick in ticks:
            with self._lock:
                command = self.chunks.command(tick * 1e-9)
            if command is None:
                continue
            stamp = Time(nanoseconds=tick, clock_type=clock_type).to_msg()
            self._pub.publish(command_to_trajectory(command, self.spec.joint_names, stamp, self.period))
            self.counts["published"] += 1

    def reset_episode(self) -> None:
        """Forget the playing chunk and drop chunks (and joint states) stamped before now."""
        with self._lock:
            self.chunks.reset()
            self._reset_stamp = node_now(self)
            self._measured = None

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self.chunks.stats.to_dict(), **self.counts}


def main(args=None) -> int:
    return spin_node(ExecutorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
