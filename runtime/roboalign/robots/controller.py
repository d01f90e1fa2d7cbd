"""How a safe joint command reaches a ros2_control arm: which controller gets which joints, in
which order, and how a JointTrajectoryController point is stamped. Plain Python, no ROS: the
controller bridge node (roboalign_ros.controller_bridge_node) is only its wiring.

What ros2_control does with the messages, read in ros2_controllers (joint_trajectory_controller
src/joint_trajectory_controller.cpp validate_trajectory_msg, src/trajectory.cpp
Trajectory::sample, doc/trajectory.rst "Trajectory Replacement"):

- A JointTrajectoryController (JTC) takes `/<controller>/joint_trajectory`. It refuses a message
  that names a joint it does not own ("Incoming joint X doesn't match the controller's joints")
  and, by default (allow_partial_joints_goal: false), one that leaves out any of its joints.
  So the arm controller gets exactly its joints, and the gripper, a joint of another
  controller, is a command of its own.
- header.stamp zero means "start now": the controller's first update after the message arrives.
  A non-zero stamp whose last point (stamp + time_from_start) already lies in the past is
  rejected ("Received trajectory with non-zero start time ... that ends in the past"), and
  points whose time has passed are skipped when the trajectory is sampled: a single point
  already past is jumped to in one update. The safety node's command carries the (older) time
  it was made for and a time_from_start of one period, so it must not be forwarded as is: each
  point here gets time_from_start = lead time > 0 and a stamp of zero or of the moment it is
  sent (PointTiming). MoveIt Servo stamps its JTC stream zero for the same reason.
- Before the first point the JTC interpolates (linearly, for positions-only points) from the
  state it holds when it takes the message up (the measured state by default; the last
  desired one with interpolate_from_desired_state or open_loop_control) to that point, and it
  holds the last point once it has passed. A stream of one-point trajectories therefore moves
  the arm toward each command over the lead time and stops there if the stream stops.
- A forward command controller (position_controllers/JointGroupPositionController, the UR
  driver's forward_position_controller) takes `/<controller>/commands` (Float64MultiArray), one
  value per joint in the order of its `joints` parameter, applied at its next update as is.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Sequence

import numpy as np

from roboalign.core.robot import RobotSpec

JOINT_TRAJECTORY = "joint_trajectory"
FORWARD_POSITION = "forward_position"
CONTROLLER_MODES = (JOINT_TRAJECTORY, FORWARD_POSITION)
NO_GRIPPER = "none"
HEADER_STAMPS = ("zero", "send_time")
# A relative ROS name: the controller manager names controllers like this (no leading slash).
_CONTROLLER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def _closest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f"did you mean {close[0]}? " if close else ""


@dataclasses.dataclass(frozen=True)
class ControllerTarget:
    """One ros2_control controller the bridge commands.

    mode: "joint_trajectory" (a JointTrajectoryController: /<controller>/joint_trajectory) or
        "forward_position" (a forward command controller: /<controller>/commands).
    controller: its name in the controller manager, e.g. "scaled_joint_trajectory_controller".
    joints: its `joints` parameter, in that order (a forward command controller reads the
        values in this order; a JTC matches them by name).
    """

    mode: str
    controller: str
    joints: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", tuple(str(j) for j in self.joints))
        if self.mode not in CONTROLLER_MODES:
            raise ValueError(f"controller mode {self.mode!r}: {_closest(self.mode, CONTROLLER_MODES)}"
                             f"expected one of {', '.join(CONTROLLER_MODES)}")
        if not _CONTROLLER_NAME.match(self.controller):
            raise ValueError(f"controller name {self.controller!r} is not a ROS name (letters, digits, _ "
                             "and /, no leading slash), e.g. joint_trajectory_controller")
        if not self.joints:
            raise ValueError(f"controller {self.controller!r} has no joints")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"controller {self.controller!r} lists a joint twice: {list(self.joints)}")

    @property
    def topic(self) -> str:
        suffix = "joint_trajectory" if self.mode == JOINT_TRAJECTORY else "commands"
        return f"/{self.controller}/{suffix}"


@dataclasses.dataclass(frozen=True)
class PointTiming:
    """How the one point of each JointTrajectory sent to a JTC is timed.

    lead_time: s, the point's time_from_start: how long the controller takes to move from where
        it is to the command (> 0; a stream at the control period needs lead_time >= period, or
        the arm stops between commands). Every command is late by about this much.
    header_stamp: "zero" ("start now": no clock is compared, so a controller on another host
        with an unsynchronised clock still accepts every point) or "send_time" (the node clock
        when sent: the point is due at send time + lead_time even if delivery is slow, and a
        receiver can tell messages sent before a given moment; needs synchronised clocks, and a
        point delivered later than lead_time is rejected by the JTC as ending in the past).
    """

    lead_time: float
    header_stamp: str = "zero"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lead_time) and self.lead_time > 0.0):
            raise ValueError(f"lead_time must be a positive number of seconds, got {self.lead_time!r}")
        if self.header_stamp not in HEADER_STAMPS:
            raise ValueError(f"header_stamp {self.header_stamp!r}: expected one of {', '.join(HEADER_STAMPS)}")

    def stamp(self, now: float) -> tuple[float, float]:
        """(header stamp in s, 0.0 = start now; time_from_start in s) for a point sent at `now`."""
        return (0.0 if self.header_stamp == "zero" else float(now)), float(self.lead_time)


@dataclasses.dataclass(frozen=True)
class ControllerCommand:
    """The part of one joint command a controller gets: positions in its joint order."""

    target: ControllerTarget
    positions: np.ndarray


class CommandRouting:
    """Splits a joint command in RobotSpec order into one command per controller, by joint name.

    Built once (a bridge's configure step); refuses at construction, with a reason that names
    the joint: a controller joint the robot does not have, a joint owned by two controllers, two
    controllers of one name, or an arm joint no controller owns. Only the gripper may be left
    uncommanded (`uncommanded`): an arm whose gripper is driven by something else.
    """

    def __init__(self, spec: RobotSpec, targets: Sequence[ControllerTarget]) -> None:
        if not targets:
            raise ValueError("no controller to command")
        names = [t.controller for t in targets]
        if len(set(names)) != len(names):
            raise ValueError(f"two controllers share one name: {names}")
        owner: dict[str, str] = {}
        for target in targets:
            for joint in target.joints:
                if joint not in spec.joint_names:
                    raise ValueError(f"controller {target.controller!r} joint {joint!r} is not a joint of robot "
                                     f"{spec.name!r}: {_closest(joint, spec.joint_names)}"
                                     f"robot joints: {', '.join(spec.joint_names)}")
                if joint in owner:
                    raise ValueError(f"joint {joint!r} is owned by both {owner[joint]!r} and {target.controller!r}")
                owner[joint] = target.controller
        gripper = None if spec.gripper_index is None else spec.joint_names[spec.gripper_index]
        missing = [j for j in spec.joint_names if j not in owner and j != gripper]
        if missing:
            raise ValueError(f"no controller owns the arm joint(s) {', '.join(missing)} of robot {spec.name!r}: "
                             "add them to the arm controller's joints")
        self.spec = spec
        self.targets = tuple(targets)
        self.uncommanded = tuple(j for j in spec.joint_names if j not in owner)
        self._index = [np.array([spec.joint_names.index(j) for j in t.joints]) for t in self.targets]

    def split(self, q: np.ndarray) -> tuple[ControllerCommand, ...]:
        """One ControllerCommand per controller. ValueError (nothing sent) on a command of the wrong
        size or with a non-finite value: the bridge is the last step before the hardware."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape[0] != self.spec.dof:
            raise ValueError(f"command has {q.shape[0]} values for the {self.spec.dof} joints of {self.spec.name!r}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"command has non-finite values: {q.tolist()}")
        return tuple(ControllerCommand(t, q[i].copy()) for t, i in zip(self.targets, self._index))


def routing_from_parameters(spec: RobotSpec, mode: str, arm_controller: str, arm_joints: Sequence[str],
                            gripper_mode: str, gripper_controller: str, gripper_joint: str) -> CommandRouting:
    """The routing a bridge's flat parameters describe.

    arm_joints: the arm controller's joints in its order; empty = every joint of the spec but
        the gripper, in spec order. gripper_mode: "none" (the gripper is not commanded) or a
        controller mode; gripper_joint: empty = the spec's gripper joint."""
    gripper_name = None if spec.gripper_index is None else spec.joint_names[spec.gripper_index]
    arm = tuple(arm_joints) or tuple(j for j in spec.joint_names if j != gripper_name)
    targets = [ControllerTarget(mode, arm_controller, arm)]
    if gripper_mode != NO_GRIPPER:
        joint = gripper_joint or gripper_name
        if joint is None:
            raise ValueError(f"robot {spec.name!r} has no gripper joint: set gripper_joint or gripper_mode: none")
        if not gripper_controller:
            raise ValueError(f"gripper_mode {gripper_mode!r} needs gripper_controller (the gripper controller's name)")
        targets.append(ControllerTarget(gripper_mode, gripper_controller, (joint,)))
    return CommandRouting(spec, targets)
