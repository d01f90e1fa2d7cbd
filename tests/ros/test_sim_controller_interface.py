"""The sim arm behind a real arm driver's controller interface, through real rclpy: it follows
/arm_controller/joint_trajectory and /commands like ros2_control's controllers, and refuses what
they refuse."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from roboalign_ros import qos
from roboalign_ros.conversions import command_to_trajectory, seconds_to_stamp
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner

pytestmark = pytest.mark.ros
GRAPH = load_graph().source.parent / "rollout_robot_sim.yaml"
ARM = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6")


class SimRig:
    def __init__(self, domain_id: int, **params) -> None:
        params = {"cameras": ["front"], "camera_rate_hz": 2.0, **params}
        self.runner = GraphRunner(load_graph(GRAPH), only=("sim",), domain_id=domain_id,
                                  overrides={"sim": params}).start()
        self.sim = self.runner.node("sim")
        self.probe = Probe(self.runner.context)
        self.joint_states = self.probe.subscribe(JointState, "/joint_states", qos.SENSOR)
        self.probe.spin_until(lambda: bool(self.joint_states), 10.0, "/joint_states")

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def arm(self) -> np.ndarray:
        with self.runner.paused():
            return self.sim.arm.joint_positions()

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()


@pytest.fixture
def rig(ros_domain_id):
    r = SimRig(ros_domain_id)
    yield r
    r.close()


def test_sim_publishes_the_joint_names_its_controllers_own_and_follows_a_trajectory(rig):
    assert list(rig.joint_states[-1].name) == [*ARM, "gripper"]
    pub = rig.probe.publisher(JointTrajectory, "/arm_controller/joint_trajectory", qos.COMMAND)
    rig.probe.spin_until(lambda: pub.get_subscription_count() > 0, 10.0, "the sim's controller subscription")
    start = rig.arm()
    target = start[:6] + np.array([0.2, -0.15, 0.1, 0.0, 0.1, 0.0])
    pub.publish(command_to_trajectory(target, ARM, seconds_to_stamp(0.0), 0.3))  # "start now", 0.3 s
    rig.probe.spin_for(1.5)
    np.testing.assert_allclose(rig.arm()[:6], target, atol=0.02)  # the PD arm settles on the held point
    assert rig.sim.controllers.counts["accepted"] == 1


def test_a_trajectory_that_ends_in_the_past_is_refused_and_the_arm_stays(rig):
    pub = rig.probe.publisher(JointTrajectory, "/arm_controller/joint_trajectory", qos.COMMAND)
    rig.probe.spin_until(lambda: pub.get_subscription_count() > 0, 10.0, "the sim's controller subscription")
    rig.probe.spin_for(0.5)  # so the late stamp below is after the sim's episode start
    start = rig.arm()
    late = command_to_trajectory(start[:6] + 0.3, ARM, seconds_to_stamp(rig.now() - 0.3), 0.1)
    pub.publish(late)
    rig.probe.spin_for(0.8)
    assert rig.sim.controllers.counts == {"dropped_before_reset": 0, "rejected": 1, "accepted": 0}
    assert np.abs(rig.arm() - start).max() < 0.01


def test_forward_position_controller_applies_arrays_and_the_gripper_is_its_own(ros_domain_id):
    rig = SimRig(ros_domain_id, arm_controller="forward_position_controller", arm_controller_mode="forward_position",
                 gripper_controller_mode="forward_position")
    try:
        arm = rig.probe.publisher(Float64MultiArray, "/forward_position_controller/commands", qos.COMMAND)
        gripper = rig.probe.publisher(Float64MultiArray, "/gripper_controller/commands", qos.COMMAND)
        rig.probe.spin_until(lambda: arm.get_subscription_count() and gripper.get_subscription_count(), 10.0,
                             "the sim's controller subscriptions")
        start = rig.arm()
        target = start[:6] + np.array([0.1, 0.0, 0.0, 0.0, -0.1, 0.0])
        arm.publish(Float64MultiArray(data=target.tolist()))
        gripper.publish(Float64MultiArray(data=[1.0]))
        arm.publish(Float64MultiArray(data=[0.0, 0.0]))  # the wrong size: refused, the last target stays
        rig.probe.spin_for(1.5)
        now = rig.arm()
        np.testing.assert_allclose(now[:6], target, atol=0.02)
        assert now[6] > 0.5  # closing
        assert rig.sim.controllers.counts["rejected"] == 1
    finally:
        rig.close()


def test_an_episode_reset_drops_the_controller_messages_still_queued(rig):
    pub = rig.probe.publisher(JointTrajectory, "/arm_controller/joint_trajectory", qos.COMMAND)
    rig.probe.spin_until(lambda: pub.get_subscription_count() > 0, 10.0, "the sim's controller subscription")
    with rig.runner.paused():  # messages arrive while no callback runs, then the episode is reset
        start = rig.sim.arm.joint_positions()
        for _ in range(3):
            pub.publish(command_to_trajectory(start[:6] + 0.3, ARM, seconds_to_stamp(0.0), 0.1))
        rig.probe.spin_for(0.2)
        rig.sim.reset(rig.sim.next_seed - 1)  # the same layout again
        start = rig.sim.arm.joint_positions()
    rig.probe.spin_for(0.6)
    assert rig.sim.controllers.counts["dropped_before_reset"] == 3 and rig.sim.controllers.counts["accepted"] == 0
    assert np.abs(rig.arm() - start).max() < 0.01
