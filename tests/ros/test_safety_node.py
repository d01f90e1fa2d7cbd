"""The safety node in a real rclpy graph, driven only through its topics and services."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.context import Context  # noqa: E402
from safety_rig import NAMES, Q0, SafetyRig  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import command_to_trajectory  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def rig(ros_domain_id):
    r = SafetyRig(ros_domain_id, watchdog_timeout=0.2)
    yield r
    r.close()


def test_when_command_is_nan_expect_arm_command_holds_last_safe(rig):
    rig.initialise()
    safe = Q0 + 0.02
    rig.send(safe, 0.6)
    np.testing.assert_allclose(rig.outputs()[-1], safe, atol=1e-9)
    mark = len(rig.out)
    bad = safe.copy()
    bad[3] = np.nan
    rig.send(bad, 0.5)
    held = rig.outputs(mark)
    assert len(held) > 5 and np.all(np.isfinite(held))
    np.testing.assert_allclose(held, np.repeat(safe[None], len(held), 0), atol=1e-9)
    assert rig.node.intervention_counts()["rejected"] >= 10
    mark = len(rig.out)
    wrong = command_to_trajectory(safe + 0.5, [f"other{i}" for i in range(len(NAMES))], rig.now(), 0.02)
    for _ in range(5):  # joint names of some other arm: rejected the same way
        wrong.header.stamp = rig.now()
        rig.commands.publish(wrong)
        rig.probe.spin_for(0.02)
    rig.probe.spin_for(0.1)
    np.testing.assert_allclose(rig.outputs(mark), np.repeat(safe[None], len(rig.out) - mark, 0), atol=1e-9)
    assert rig.node.intervention_counts()["malformed"] == 5
    state = rig.probe.subscribe(DiagnosticArray, "/safety/state", qos.STATE)
    rig.probe.spin_until(lambda: bool(state), 5.0, "/safety/state")
    values = {kv.key: kv.value for kv in state[-1].status[0].values}
    assert int(values["rejected"]) >= 10 and values["estop_latched"] == "False"


def test_when_commands_stop_expect_decelerate_then_hold_still(rig):
    rig.initialise()
    far = Q0 + np.array([2.0, 0, 0, 0, 0, 0, 0])  # the output chases it at up to 2 rad/s
    rig.send(far, 0.3)
    mark = len(rig.out)
    rig.probe.spin_for(0.8)  # silence: the watchdog (0.2 s) must stop the arm short of `far`
    after = rig.outputs(mark)[:, 0]
    assert rig.node.intervention_counts()["watchdog_trips"] == 1
    # Goes on for the watchdog timeout (+ up to 2 periods), then brakes at a_max (8 rad/s^2):
    # at most 2 * 0.24 + 2^2 / (2 * 8) rad further, never backwards ...
    assert np.all(np.diff(after) >= -1e-12)
    assert after[-1] - after[0] <= 2.0 * 0.24 + 4.0 / 16 + 1e-6 and after[-1] < far[0] - 0.5
    assert np.all(np.diff(after[-10:]) == 0.0)  # ... and then perfectly still


def test_when_estop_latched_before_start_expect_no_motion_and_reset_rules(ros_domain_id):
    # The e-stop is asserted by another participant BEFORE the safety node exists:
    # transient_local durability must still deliver it.
    estop_ctx = Context()
    rclpy.init(args=[], context=estop_ctx, domain_id=ros_domain_id)
    estop_node = rclpy.create_node("estop_button", context=estop_ctx)
    estop_pub = estop_node.create_publisher(Bool, "/safety/estop", qos.LATCHED)
    estop_pub.publish(Bool(data=True))
    rig = SafetyRig(ros_domain_id, watchdog_timeout=0.2)
    try:
        rig.initialise()
        rig.probe.spin_until(lambda: rig.node.filter.estopped, 10.0, "the latched e-stop")
        far = Q0 + 0.3
        rig.send(far, 0.5)
        np.testing.assert_allclose(rig.outputs(), np.repeat(Q0[None], len(rig.out), 0), atol=0.0)

        refused = rig.probe.call(Trigger, "/safety/reset")
        assert not refused.success and "still asserted" in refused.message

        estop_pub.publish(Bool(data=False))
        rig.probe.spin_until(lambda: not rig.node.estop_asserted, 5.0, "the e-stop release")
        accepted = rig.probe.call(Trigger, "/safety/reset")
        assert accepted.success and not rig.node.filter.estopped
        mark = len(rig.out)
        rig.probe.spin_for(0.4)  # reset alone: still no motion
        np.testing.assert_allclose(rig.outputs(mark), np.repeat(Q0[None], len(rig.out) - mark, 0), atol=0.0)
        rig.send(far, 1.0)       # a fresh command after the reset moves the arm
        assert np.abs(rig.outputs()[-1] - Q0).max() > 0.1
    finally:
        rig.close()
        estop_node.destroy_node()
        rclpy.try_shutdown(context=estop_ctx)
