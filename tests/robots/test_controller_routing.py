"""What the controller bridge does to a safe command, without ROS: joints routed by name to
each ros2_control controller in its own order, the gripper as its own command, points stamped
so a JointTrajectoryController accepts them (checked against the sim's JTC)."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.core.robot import JointLimits, RobotSpec
from roboalign.robots.controller import (
    CommandRouting,
    ControllerTarget,
    PointTiming,
    routing_from_parameters,
)
from roboalign.sim.controllers import CommandRejected, SimTrajectoryController, TrajectoryMessage, TrajectoryPoint

FR3_ARM = tuple(f"fr3_joint{i}" for i in range(1, 8))


def fr3_like(gripper: bool = True) -> RobotSpec:
    names = FR3_ARM + (("fr3_finger_joint1",) if gripper else ())
    n = len(names)
    return RobotSpec(name="fr3_like", joint_names=names,
                     limits=JointLimits(lower=-np.ones(n), upper=np.ones(n), max_velocity=np.ones(n),
                                        max_acceleration=np.ones(n)),
                     control_rate_hz=50.0, gripper_index=n - 1 if gripper else None)


Q = np.arange(8, dtype=float) / 10.0  # fr3_joint1 = 0.0 ... fr3_finger_joint1 = 0.7


def test_each_controller_gets_exactly_its_joints_in_its_own_order():
    arm = ControllerTarget("forward_position", "forward_position_controller", tuple(reversed(FR3_ARM)))
    gripper = ControllerTarget("joint_trajectory", "gripper_controller", ("fr3_finger_joint1",))
    commands = CommandRouting(fr3_like(), [arm, gripper]).split(Q)
    assert [c.target.controller for c in commands] == ["forward_position_controller", "gripper_controller"]
    np.testing.assert_array_equal(commands[0].positions, Q[6::-1])  # fr3_joint7 first, as the controller lists them
    np.testing.assert_array_equal(commands[1].positions, [0.7])
    assert arm.topic == "/forward_position_controller/commands"
    assert gripper.topic == "/gripper_controller/joint_trajectory"


def test_parameters_default_to_the_spec_order_without_the_gripper():
    routing = routing_from_parameters(fr3_like(), "joint_trajectory", "fr3_arm_controller", [], "none", "", "")
    assert routing.targets[0].joints == FR3_ARM and len(routing.targets) == 1
    assert routing.uncommanded == ("fr3_finger_joint1",)  # a gripper driven by something else
    with_gripper = routing_from_parameters(fr3_like(), "joint_trajectory", "fr3_arm_controller", [],
                                           "forward_position", "hand", "")
    assert with_gripper.targets[1].joints == ("fr3_finger_joint1",) and with_gripper.uncommanded == ()


@pytest.mark.parametrize("targets, says", [
    ([("joint_trajectory", "arm", FR3_ARM[:6] + ("fr3_joint8",))], "'fr3_joint8' is not a joint of robot 'fr3_like': did you mean fr3_joint7?"),
    ([("joint_trajectory", "arm", FR3_ARM), ("joint_trajectory", "hand", ("fr3_joint7",))], "owned by both 'arm' and 'hand'"),
    ([("joint_trajectory", "arm", FR3_ARM[:5])], "no controller owns the arm joint(s) fr3_joint6, fr3_joint7"),
    ([("joint_trajectory", "arm", FR3_ARM), ("forward_position", "arm", ("fr3_finger_joint1",))], "two controllers share one name"),
])
def test_a_routing_mistake_is_refused_naming_the_joint(targets, says):
    with pytest.raises(ValueError) as info:
        CommandRouting(fr3_like(), [ControllerTarget(*t) for t in targets])
    assert says in str(info.value)


@pytest.mark.parametrize("args, says", [
    (("joint_trajectroy", "arm", ("a",)), "did you mean joint_trajectory?"),
    (("joint_trajectory", "/arm", ("a",)), "is not a ROS name"),
    (("joint_trajectory", "arm", ()), "has no joints"),
    (("joint_trajectory", "arm", ("a", "a")), "lists a joint twice"),
])
def test_a_controller_description_mistake_is_refused_in_words(args, says):
    with pytest.raises(ValueError, match=says):
        ControllerTarget(*args)


def test_gripper_controller_needs_a_name_and_a_gripper():
    with pytest.raises(ValueError, match="needs gripper_controller"):
        routing_from_parameters(fr3_like(), "joint_trajectory", "arm", [], "joint_trajectory", "", "")
    with pytest.raises(ValueError, match="has no gripper joint"):
        routing_from_parameters(fr3_like(gripper=False), "joint_trajectory", "arm", [], "joint_trajectory", "hand", "")


@pytest.mark.parametrize("bad", [Q[:7], np.concatenate([Q, [0.0]]), np.where(np.arange(8) == 3, np.nan, Q),
                                 np.where(np.arange(8) == 7, np.inf, Q)], ids=["short", "long", "nan", "inf"])
def test_a_command_of_the_wrong_size_or_not_finite_is_never_split(bad):
    routing = routing_from_parameters(fr3_like(), "joint_trajectory", "arm", [], "joint_trajectory", "hand", "")
    with pytest.raises(ValueError):
        routing.split(bad)


def test_point_timing_is_zero_or_the_send_time_and_always_ahead():
    assert PointTiming(0.05).stamp(1234.5) == (0.0, 0.05)
    assert PointTiming(0.05, "send_time").stamp(1234.5) == (1234.5, 0.05)
    for lead in (0.0, -0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lead_time"):
            PointTiming(lead)
    with pytest.raises(ValueError, match="header_stamp"):
        PointTiming(0.05, "command_time")


def _jtc_message(timing: PointTiming, sent: float, q: np.ndarray) -> TrajectoryMessage:
    stamp, lead = timing.stamp(sent)
    return TrajectoryMessage(FR3_ARM, stamp, (TrajectoryPoint(tuple(q), lead),))


@pytest.mark.parametrize("delivery_s", [0.0, 0.01, 0.049, 0.3, 5.0])
def test_a_zero_stamped_point_is_accepted_however_late_it_arrives(delivery_s):
    jtc = SimTrajectoryController(FR3_ARM)
    jtc.receive(_jtc_message(PointTiming(0.05), 100.0, Q[:7]), now=100.0 + delivery_s)
    # ... and the controller then reaches it lead_time after taking it up, not before
    start = 100.0 + delivery_s + 0.001
    np.testing.assert_allclose(jtc.update(start, np.zeros(7)), np.zeros(7))
    np.testing.assert_allclose(jtc.update(start + 0.025, np.zeros(7)), Q[:7] / 2)
    np.testing.assert_allclose(jtc.update(start + 0.05, np.zeros(7)), Q[:7])


def test_a_send_time_stamped_point_is_accepted_while_delivery_is_within_the_lead_time():
    timing = PointTiming(0.05, "send_time")
    SimTrajectoryController(FR3_ARM).receive(_jtc_message(timing, 100.0, Q[:7]), now=100.049)
    with pytest.raises(CommandRejected, match="ends in the past"):
        SimTrajectoryController(FR3_ARM).receive(_jtc_message(timing, 100.0, Q[:7]), now=100.051)
