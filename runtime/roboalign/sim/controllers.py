"""The sim arm's ros2_control controllers: what a JointTrajectoryController or a forward command
controller does with the messages it gets, so the real-robot graph runs unchanged against the
simulator (roboalign_ros.sim_node in `command_interface: ros2_control`).

SimTrajectoryController follows the JointTrajectoryController (ros2_controllers,
joint_trajectory_controller: validate_trajectory_msg and Trajectory::sample; what the bridge
relies on is summed up in roboalign.robots.controller) for positions-only points:

- a message is checked when it arrives, in the JTC's order and with its words: joint names and
  points present, a non-zero stamp whose last point is already past is rejected, every joint
  its own and all of them (allow_partial_joints_goal: false), time_from_start strictly
  increasing, one position per joint. Non-finite positions are refused too (the real JTC
  would pass them on; the sim fails closed and counts them);
- a new message replaces the current trajectory at the next update: the state it starts from
  is taken then (the measured joints, or the last desired ones with
  interpolate_from_desired_state), and a zero stamp means that update's time;
- before its first point the desired positions move linearly from that state to the point;
  between points linearly; after the last point they hold it; points already past are skipped.

SimForwardController applies each `commands` array at the next update, as is.
Times are seconds on one clock (the sim node's ROS clock); positions in the controller's joint
order.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


class CommandRejected(ValueError):
    """A controller refused a message; str() is the reason, in the real controller's words."""


@dataclasses.dataclass(frozen=True)
class TrajectoryPoint:
    positions: tuple[float, ...]     # in the message's joint_names order
    time_from_start: float           # s


@dataclasses.dataclass(frozen=True)
class TrajectoryMessage:
    """trajectory_msgs/JointTrajectory without ROS: stamp in s, 0.0 = start now."""

    joint_names: tuple[str, ...]
    stamp: float
    points: tuple[TrajectoryPoint, ...]


@dataclasses.dataclass
class _Trajectory:
    stamp: float                     # 0.0 until its first update, then the start time (s)
    times: np.ndarray                # [N] time_from_start (s)
    positions: np.ndarray            # [N, J] controller joint order
    before_time: float | None = None
    before: np.ndarray | None = None


class SimTrajectoryController:
    """A JointTrajectoryController (topic interface, positions only). Not thread-safe: the
    caller serialises receive(), update() and reset()."""

    def __init__(self, joints: Sequence[str], interpolate_from_desired_state: bool = False) -> None:
        self.joints = tuple(joints)
        self.interpolate_from_desired_state = interpolate_from_desired_state
        self.counts = {"accepted": 0, "rejected": 0}
        self._pending: _Trajectory | None = None
        self._active: _Trajectory | None = None
        self._desired: np.ndarray | None = None

    def _check(self, msg: TrajectoryMessage, now: float) -> None:
        if not msg.joint_names:
            raise CommandRejected("Empty joint names on incoming trajectory.")
        if not msg.points:
            raise CommandRejected("Empty trajectory received.")
        if msg.stamp != 0.0 and msg.stamp + msg.points[-1].time_from_start < now:
            raise CommandRejected(f"Received trajectory with non-zero start time ({msg.stamp:f}) that ends in the "
                                  f"past ({msg.stamp + msg.points[-1].time_from_start:f})")
        for name in msg.joint_names:
            if name not in self.joints:
                raise CommandRejected(f"Incoming joint {name} doesn't match the controller's joints.")
        if len(msg.joint_names) != len(self.joints) or len(set(msg.joint_names)) != len(self.joints):
            raise CommandRejected("Joints on incoming trajectory don't match the controller joints.")
        for i, point in enumerate(msg.points):
            if i > 0 and point.time_from_start <= msg.points[i - 1].time_from_start:
                raise CommandRejected(f"Time between points {i - 1} and {i} is not strictly increasing, it is "
                                      f"{msg.points[i - 1].time_from_start:f} and {point.time_from_start:f} respectively")
            if len(point.positions) != len(msg.joint_names):
                raise CommandRejected(f"Mismatch between joint_names size ({len(msg.joint_names)}) and positions "
                                      f"({len(point.positions)}) at point #{i}.")
            if not np.all(np.isfinite(point.positions)):
                raise CommandRejected(f"Non-finite position at point #{i} (refused by the sim)")

    def receive(self, msg: TrajectoryMessage, now: float) -> None:
        """Take a message arriving at `now`; CommandRejected (counted, current trajectory kept)
        when the real controller would refuse it."""
        try:
            self._check(msg, now)
        except CommandRejected:
            self.counts["rejected"] += 1
            raise
        order = [msg.joint_names.index(j) for j in self.joints]
        positions = np.array([[p.positions[k] for k in order] for p in msg.points], dtype=np.float64)
        times = np.array([p.time_from_start for p in msg.points], dtype=np.float64)
        self._pending = _Trajectory(stamp=float(msg.stamp), times=times, positions=positions)
        self.counts["accepted"] += 1

    def update(self, now: float, measured: np.ndarray) -> np.ndarray | None:
        """Desired positions at `now` (controller joint order), None before the first message
        (the arm holds what it has). `measured`: the joints now, controller order."""
        if self._pending is not None:
            self._active, self._pending = self._pending, None
        traj = self._active
        if traj is None:
            return None
        if traj.before is None:  # first update of this trajectory
            from_desired = self.interpolate_from_desired_state and self._desired is not None
            traj.before = (self._desired if from_desired else np.asarray(measured, dtype=np.float64)).copy()
            traj.before_time = now
            if traj.stamp == 0.0:
                traj.stamp = now
        self._desired = self._sample(traj, now)
        return self._desired.copy()

    @staticmethod
    def _sample(traj: _Trajectory, now: float) -> np.ndarray:
        at = traj.stamp + traj.times
        if now < at[0]:
            span = at[0] - traj.before_time
            w = 1.0 if span <= 0.0 else min(max((now - traj.before_time) / span, 0.0), 1.0)
            return traj.before + w * (traj.positions[0] - traj.before)
        k = int(np.searchsorted(at, now, side="right")) - 1  # at[k] <= now < at[k + 1]
        if k >= len(at) - 1:
            return traj.positions[-1].copy()
        w = (now - at[k]) / (at[k + 1] - at[k])
        return traj.positions[k] + w * (traj.positions[k + 1] - traj.positions[k])

    def reset(self) -> None:
        """Forget every trajectory (the sim arm was put somewhere else)."""
        self._pending = self._active = self._desired = None


class SimForwardController:
    """A forward command controller: each `commands` array is the position target from the next
    update on. Not thread-safe (as above)."""

    def __init__(self, joints: Sequence[str]) -> None:
        self.joints = tuple(joints)
        self.counts = {"accepted": 0, "rejected": 0}
        self._command: np.ndarray | None = None

    def receive(self, values: Sequence[float], now: float) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape[0] != len(self.joints):
            self.counts["rejected"] += 1
            raise CommandRejected(f"command size ({values.shape[0]}) does not match number of interfaces "
                                  f"({len(self.joints)})")
        if not np.all(np.isfinite(values)):
            self.counts["rejected"] += 1
            raise CommandRejected("Non-finite command (refused by the sim)")
        self._command = values.copy()
        self.counts["accepted"] += 1

    def update(self, now: float, measured: np.ndarray) -> np.ndarray | None:
        return None if self._command is None else self._command.copy()

    def reset(self) -> None:
        self._command = None
