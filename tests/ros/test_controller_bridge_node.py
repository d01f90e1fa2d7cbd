"""The controller bridge node through real rclpy: driven by its lifecycle services and topics
only, as ros2_control's controllers and `ros2 lifecycle set` would see it."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from ros_probe import Probe  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from roboalign.core.robot import JointLimits, RobotSpec  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import command_to_trajectory, duration_to_seconds, stamp_to_seconds  # noqa: E402
from roboalign_ros.graph import load_graph  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
CONFIG = load_graph().source.parent
REPO_ROBOTS = CONFIG.parents[3] / "configs" / "robots"
SPEC = sim_robot_spec()
NAMES = SPEC.joint_names
Q = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
ARM = "/arm_controller/joint_trajectory"
GRIPPER = "/gripper_controller/joint_trajectory"


class BridgeRig:
    """The bridge of rollout_robot.yaml alone; a probe plays the safety node and the controllers."""

    def __init__(self, domain_id: int, graph: str = "rollout_robot.yaml", **params) -> None:
        self.runner = GraphRunner(load_graph(CONFIG / graph), only=("controller_bridge",), domain_id=domain_id,
                                  overrides={"controller_bridge": params}).start()
        self.node = self.runner.node("controller_bridge")
        self.probe = Probe(self.runner.context)
        self.commands = self.probe.publisher(JointTrajectory, "/arm/command", qos.COMMAND)

    def transition(self, transition_id: int) -> bool:
        client = self.probe.node.create_client(ChangeState, "/controller_bridge/change_state")
        self.probe.spin_until(client.service_is_ready, 10.0, "the bridge's change_state service")
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        self.probe.spin_until(future.done, 10.0, "the transition")
        return future.result().success

    def state(self) -> str:
        client = self.probe.node.create_client(GetState, "/controller_bridge/get_state")
        self.probe.spin_until(client.service_is_ready, 10.0, "the bridge's get_state service")
        future = client.call_async(GetState.Request())
        self.probe.spin_until(future.done, 10.0, "the state")
        return future.result().current_state.label

    def send(self, q, n: int = 10, names=NAMES) -> None:
        for _ in range(n):
            self.commands.publish(command_to_trajectory(q, names, self.probe.node.get_clock().now().to_msg(), 0.02))
            self.probe.spin_for(0.02)
        self.probe.spin_for(0.2)

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()


@pytest.fixture
def rig(ros_domain_id):
    r = BridgeRig(ros_domain_id)
    yield r
    r.close()


def test_bridge_forwards_nothing_until_configured_and_activated_then_stops_on_deactivate(rig):
    arm = rig.probe.subscribe(JointTrajectory, ARM, qos.COMMAND)
    assert rig.state() == "unconfigured"
    assert rig.transition(Transition.TRANSITION_CONFIGURE) and rig.state() == "inactive"
    rig.send(Q)
    assert arm == [] and rig.node.stats()["dropped_inactive"] == 10
    assert rig.transition(Transition.TRANSITION_ACTIVATE) and rig.state() == "active"
    rig.send(Q)
    assert len(arm) == 10 and rig.node.stats()["forwarded"] == 10
    assert rig.transition(Transition.TRANSITION_DEACTIVATE) and rig.state() == "inactive"
    rig.send(Q)
    assert len(arm) == 10  # nothing after deactivate


def test_each_controller_gets_its_joints_with_a_point_it_accepts(rig):
    arm = rig.probe.subscribe(JointTrajectory, ARM, qos.COMMAND)
    gripper = rig.probe.subscribe(JointTrajectory, GRIPPER, qos.COMMAND)
    rig.transition(Transition.TRANSITION_CONFIGURE)
    rig.transition(Transition.TRANSITION_ACTIVATE)
    shuffled = [NAMES[i] for i in (6, 0, 5, 1, 4, 2, 3)]  # the safety node's names in any order: matched by name
    rig.send(Q[[6, 0, 5, 1, 4, 2, 3]], n=3, names=shuffled)
    assert len(arm) == len(gripper) == 3
    msg = arm[-1]
    assert list(msg.joint_names) == list(NAMES[:6]) and list(msg.points[0].positions) == pytest.approx(Q[:6])
    assert list(gripper[-1].joint_names) == ["gripper"] and list(gripper[-1].points[0].positions) == pytest.approx([0.7])
    # "start now" and time_from_start = lead_time (> 0): a JointTrajectoryController accepts it however late it arrives
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (0, 0)
    assert duration_to_seconds(msg.points[0].time_from_start) == pytest.approx(0.05)


def test_send_time_stamps_carry_the_moment_of_sending(ros_domain_id):
    rig = BridgeRig(ros_domain_id, header_stamp="send_time", lead_time=0.08, autostart=True)
    try:
        arm = rig.probe.subscribe(JointTrajectory, ARM, qos.COMMAND)
        before = rig.probe.node.get_clock().now().nanoseconds * 1e-9
        rig.send(Q, n=3)
        after = rig.probe.node.get_clock().now().nanoseconds * 1e-9
        assert len(arm) == 3
        for msg in arm:
            assert before <= stamp_to_seconds(msg.header.stamp) <= after
            assert duration_to_seconds(msg.points[0].time_from_start) == pytest.approx(0.08)
    finally:
        rig.close()


def test_forward_position_mode_sends_arrays_in_the_controllers_joint_order(ros_domain_id):
    rig = BridgeRig(ros_domain_id, mode="forward_position", arm_controller="forward_position_controller",
                    arm_joints=list(reversed(NAMES[:6])), gripper_mode="forward_position", autostart=True)
    try:
        arm = rig.probe.subscribe(Float64MultiArray, "/forward_position_controller/commands", qos.COMMAND)
        gripper = rig.probe.subscribe(Float64MultiArray, "/gripper_controller/commands", qos.COMMAND)
        rig.send(Q, n=3)
        assert len(arm) == len(gripper) == 3
        assert list(arm[-1].data) == pytest.approx(Q[5::-1]) and list(gripper[-1].data) == pytest.approx([0.7])
    finally:
        rig.close()


def test_a_malformed_command_is_never_forwarded(ros_domain_id):
    rig = BridgeRig(ros_domain_id, autostart=True)
    try:
        arm = rig.probe.subscribe(JointTrajectory, ARM, qos.COMMAND)
        for bad in (np.where(np.arange(7) == 2, np.nan, Q), np.where(np.arange(7) == 6, np.inf, Q)):
            rig.send(bad, n=2)
        rig.send(Q, n=2, names=[f"other{i}" for i in range(7)])
        rig.send(Q[:6], n=2, names=list(NAMES[:6]))
        assert arm == [] and rig.node.stats()["malformed"] == 8
    finally:
        rig.close()


def test_a_routing_mistake_fails_configure_and_says_which_joint(ros_domain_id):
    rig = BridgeRig(ros_domain_id, arm_joints=["joint1", "joint2", "joint3"])
    try:
        assert not rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "unconfigured"
        assert "no controller owns the arm joint(s) joint4, joint5, joint6" in rig.node.configure_error
    finally:
        rig.close()


def test_autostart_with_a_routing_mistake_stops_the_graph_in_one_line(ros_domain_id):
    from roboalign.errors import ConfigError

    with pytest.raises(ConfigError, match="controller_bridge cannot configure: controller 'arm_controller' joint 'joint7'"):
        GraphRunner(load_graph(CONFIG / "rollout_robot.yaml"), only=("controller_bridge",), domain_id=ros_domain_id,
                    overrides={"controller_bridge": {"autostart": True, "arm_joints": [f"joint{i}" for i in range(2, 8)]}}).start()


@pytest.mark.parametrize("variant, joints", [("fr3", [f"fr3_joint{i}" for i in range(1, 8)]),
                                             ("ur5e", ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint",
                                                       "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"])])
def test_driver_examples_configure_against_their_arms_joint_names(variant, joints, ros_domain_id, tmp_path):
    """The FR3 and UR5e bridges configure against a RobotSpec with their drivers' joint names
    (configs/robots/<arm>.yaml when present, else a stand-in with the same names and a gripper)."""
    path = REPO_ROBOTS / f"{variant}.yaml"
    if not path.is_file():
        names = (*joints, "gripper")
        n = len(names)
        RobotSpec(variant, names, JointLimits(-np.ones(n), np.ones(n), np.ones(n), np.ones(n)), 50.0,
                  gripper_index=n - 1).save(tmp_path / "robot.yaml")
        path = tmp_path / "robot.yaml"
    graph = load_graph(CONFIG / f"rollout_robot_{variant}.yaml")
    with GraphRunner(graph, only=("controller_bridge",), domain_id=ros_domain_id,
                     overrides={"controller_bridge": {"robot": str(path), "autostart": True}}) as runner:
        bridge = runner.node("controller_bridge")
        assert bridge.active and bridge.routing.targets[0].joints == tuple(joints)
        assert len(bridge.routing.targets) == 1  # the gripper is not a controller of these drivers



def test_without_arm_joints_the_arm_controller_gets_the_specs_joints_but_the_gripper(ros_domain_id):
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from roboalign_ros.controller_bridge_node import ControllerBridgeNode

    context = Context()
    rclpy.init(args=[], context=context, domain_id=ros_domain_id)
    node = ControllerBridgeNode(context=context, parameter_overrides=[Parameter("autostart", value=True)])
    try:  # an empty list parameter (declared by type, roboalign_ros.params.declare) reads as []
        assert node.params["arm_joints"] == [] and node.active
        assert node.routing.targets[0].joints == NAMES[:6] and node.routing.uncommanded == ("gripper",)
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
