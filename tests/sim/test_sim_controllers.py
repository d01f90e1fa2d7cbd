"""The sim's ros2_control controllers behave like the real ones (JointTrajectoryController and
forward command controller semantics, ros2_controllers), without ROS."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.sim.controllers import (
    CommandRejected,
    SimForwardController,
    SimTrajectoryController,
    TrajectoryMessage,
    TrajectoryPoint,
)

JOINTS = ("a", "b", "c")
ZERO = np.zeros(3)


def message(points, stamp=0.0, names=JOINTS):
    return TrajectoryMessage(tuple(names), stamp, tuple(TrajectoryPoint(tuple(p), t) for p, t in points))


@pytest.mark.parametrize("msg, says", [
    (message([([1, 2, 3], 0.1)], names=()), "Empty joint names on incoming trajectory."),
    (message([]), "Empty trajectory received."),
    (message([([1, 2, 3], 0.1)], stamp=9.0), "Received trajectory with non-zero start time (9.000000) that ends in the past (9.100000)"),
    (message([([1, 2, 3], 0.1)], names=("a", "b", "x")), "Incoming joint x doesn't match the controller's joints."),
    (message([([1, 2], 0.1)], names=("a", "b")), "Joints on incoming trajectory don't match the controller joints."),
    (message([([1, 2, 3], 0.2), ([1, 2, 3], 0.2)]), "Time between points 0 and 1 is not strictly increasing"),
    (message([([1, 2], 0.1)]), "Mismatch between joint_names size (3) and positions (2) at point #0."),
    (message([([1, np.nan, 3], 0.1)]), "Non-finite position at point #0"),
    (message([([1, np.inf, 3], 0.1)]), "Non-finite position at point #0"),
])
def test_refuses_what_the_real_controller_refuses_in_its_words(msg, says):
    jtc = SimTrajectoryController(JOINTS)
    jtc.receive(message([([1, 1, 1], 0.1)]), now=10.0)
    jtc.update(10.0, ZERO)
    with pytest.raises(CommandRejected) as info:
        jtc.receive(msg, now=10.0)
    assert says in str(info.value)
    assert jtc.counts == {"accepted": 1, "rejected": 1}
    np.testing.assert_allclose(jtc.update(10.2, ZERO), [1, 1, 1])  # the refused message changed nothing


def test_before_any_message_it_commands_nothing_so_the_arm_holds():
    assert SimTrajectoryController(JOINTS).update(1.0, ZERO) is None


def test_zero_stamp_starts_at_the_next_update_from_the_measured_joints_then_holds_the_point():
    jtc = SimTrajectoryController(JOINTS)
    jtc.receive(message([([1.0, 2.0, 3.0], 0.1)]), now=5.0)
    measured = np.array([0.5, 0.5, 0.5])
    np.testing.assert_allclose(jtc.update(5.02, measured), measured)             # taken up now, from here
    np.testing.assert_allclose(jtc.update(5.07, ZERO), [0.75, 1.25, 1.75])       # halfway, linear
    np.testing.assert_allclose(jtc.update(5.12, ZERO), [1.0, 2.0, 3.0])          # reached after time_from_start
    np.testing.assert_allclose(jtc.update(9.00, ZERO), [1.0, 2.0, 3.0])          # and held


def test_a_new_message_starts_from_the_last_desired_state_when_asked():
    for from_desired, expected in ((False, [0.0, 0.0, 0.0]), (True, [1.0, 1.0, 1.0])):
        jtc = SimTrajectoryController(JOINTS, interpolate_from_desired_state=from_desired)
        jtc.receive(message([([1.0, 1.0, 1.0], 0.1)]), now=0.0)
        jtc.update(0.0, ZERO)
        jtc.update(0.2, ZERO)                       # desired reached 1.0, the arm measured at 0.0
        jtc.receive(message([([2.0, 2.0, 2.0], 0.1)]), now=0.2)
        np.testing.assert_allclose(jtc.update(0.2, ZERO), expected)


def test_points_already_past_are_skipped_and_a_message_replaces_the_current_one():
    jtc = SimTrajectoryController(JOINTS)
    jtc.receive(message([([9.0, 9.0, 9.0], 1.0)]), now=0.0)
    jtc.update(0.0, ZERO)
    # stamped at 1.0: point 0 due at 1.1 (past at 1.25), point 1 at 1.2 (past), point 2 at 1.3
    late = message([([5.0, 5.0, 5.0], 0.1), ([6.0, 6.0, 6.0], 0.2), ([7.0, 7.0, 7.0], 0.3)], stamp=1.0)
    jtc.receive(late, now=1.25)
    np.testing.assert_allclose(jtc.update(1.25, ZERO), [6.5, 6.5, 6.5])  # between points 1 and 2: 5 never commanded
    np.testing.assert_allclose(jtc.update(1.5, ZERO), [7.0, 7.0, 7.0])


def test_the_order_of_joint_names_in_a_message_does_not_matter():
    jtc = SimTrajectoryController(JOINTS)
    jtc.receive(message([([3.0, 1.0, 2.0], 0.1)], names=("c", "a", "b")), now=0.0)
    jtc.update(0.0, ZERO)
    np.testing.assert_allclose(jtc.update(1.0, ZERO), [1.0, 2.0, 3.0])


def test_reset_forgets_every_trajectory():
    jtc = SimTrajectoryController(JOINTS)
    jtc.receive(message([([1.0, 1.0, 1.0], 0.1)]), now=0.0)
    jtc.reset()
    assert jtc.update(1.0, ZERO) is None


def test_forward_controller_applies_each_command_as_is_and_refuses_a_wrong_size():
    fwd = SimForwardController(JOINTS)
    assert fwd.update(0.0, ZERO) is None
    fwd.receive([1.0, 2.0, 3.0], now=0.0)
    np.testing.assert_allclose(fwd.update(0.0, ZERO), [1.0, 2.0, 3.0])
    for bad in ([1.0, 2.0], [1.0, 2.0, float("nan")]):
        with pytest.raises(CommandRejected):
            fwd.receive(bad, now=0.1)
    np.testing.assert_allclose(fwd.update(0.2, ZERO), [1.0, 2.0, 3.0])
    assert fwd.counts == {"accepted": 1, "rejected": 2}
    fwd.reset()
    assert fwd.update(0.3, ZERO) is None
