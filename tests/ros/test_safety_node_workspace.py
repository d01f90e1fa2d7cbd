"""The safety node's Cartesian workspace parameters, in a real rclpy graph: a table plane on
the sim arm's tool point clamps /arm/command; a workspace the robot cannot check refuses to start."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from ros_probe import Probe  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from roboalign.robots import kinematics_for  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import command_from_trajectory, command_to_trajectory, joint_state_msg  # noqa: E402
from roboalign_ros.graph import load_graph  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
SPEC = sim_robot_spec()
NAMES = SPEC.joint_names
KIN = kinematics_for(SPEC)
Q0 = np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0, 0.0])  # tool at z = 0.294 m
TABLE = 0.25


def test_targets_below_the_table_plane_are_clamped_by_the_safety_node(ros_domain_id):
    runner = GraphRunner(load_graph(), only=("safety",), domain_id=ros_domain_id,
                         overrides={"safety": {"table_height": TABLE}}).start()
    probe = Probe(runner.context)
    try:
        out = probe.subscribe(JointTrajectory, "/arm/command", qos.COMMAND)
        state = probe.subscribe(DiagnosticArray, "/safety/state", qos.STATE)
        joints = probe.publisher(JointState, "/joint_states", qos.SENSOR)
        commands = probe.publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)

        def now():
            return probe.node.get_clock().now().to_msg()

        def initialised():
            joints.publish(joint_state_msg(NAMES, Q0, None, now()))
            probe.spin_for(0.02)
            return bool(out)

        probe.spin_until(initialised, 10.0, "the safety node's first /arm/command")
        down = Q0 + np.array([0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0])  # tool far below z = 0.25
        assert KIN.tool_position(down[:6])[2] < TABLE - 0.1
        for _ in range(60):
            commands.publish(command_to_trajectory(down, NAMES, now(), 0.02))
            probe.spin_for(0.02)
        heights = [KIN.tool_position(command_from_trajectory(m, NAMES)[:6])[2] for m in out]
        assert min(heights) >= TABLE - 1e-9 and heights[-1] == pytest.approx(TABLE, abs=5e-3)
        assert runner.node("safety").intervention_counts()["workspace"] > 0
        probe.spin_until(lambda: any(kv.key == "workspace" and int(kv.value) > 0
                                     for kv in state[-1].status[0].values) if state else False,
                         5.0, "/safety/state counting workspace steps")
    finally:
        probe.close()
        runner.shutdown()


def test_a_workspace_on_a_robot_without_kinematics_refuses_to_start_in_one_line(ros_domain_id, tmp_path):
    spec = sim_robot_spec().to_dict()
    spec["name"] = "no_kinematics_arm"
    robot = tmp_path / "arm.yaml"
    robot.write_text(yaml.safe_dump(spec))
    result = subprocess.run([sys.executable, "-m", "roboalign_ros.safety_node", "--ros-args", "-p", f"robot:={robot}",
                             "-p", "table_height:=0.0"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "ROS_DOMAIN_ID": str(ros_domain_id)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "workspace" in lines[0] and "no kinematic model" in lines[0], result.stderr


def test_fr3_safety_node_builds_its_workspace_from_the_robot_yaml(ros_domain_id):
    pytest.importorskip("pinocchio")
    fr3 = Path(__file__).resolve().parents[2] / "configs" / "robots" / "fr3.yaml"
    runner = GraphRunner(load_graph(), only=("safety",), domain_id=ros_domain_id,
                         overrides={"safety": {"robot": str(fr3), "table_height": 0.05, "control_rate_hz": 100.0,
                                               "workspace_min": [0.2, -0.5, 0.0], "workspace_max": [0.8, 0.5, 0.9],
                                               "tool_offset": [0.0, 0.0, 0.1034]}}).start()
    try:
        workspace = runner.node("safety").filter.workspace
        assert workspace is not None and workspace.table_height == 0.05
        assert workspace.kinematics.joint_names == tuple(f"fr3_joint{i}" for i in range(1, 8))
        assert workspace.kinematics.tool_position(np.zeros(7))[2] == pytest.approx(0.926 - 0.1034, abs=1e-9)
    finally:
        runner.shutdown()
