"""Node parameters fail closed, through real rclpy: a parameter a node does not declare is
refused by name (with the closest declared one) however it was given, a value of the wrong
type or out of range is refused with its range, and a node started alone says so in one line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

rclpy = pytest.importorskip("rclpy")


from roboalign.errors import ConfigError  # noqa: E402
from roboalign_ros.console_bridge import ConsoleBridge  # noqa: E402
from roboalign_ros.estop_node import EStopNode  # noqa: E402
from roboalign_ros.executor_node import ExecutorNode  # noqa: E402
from roboalign_ros.graph import load_graph  # noqa: E402
from roboalign_ros.params import ParameterError  # noqa: E402
from roboalign_ros.policy_node import PolicyNode  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402
from roboalign_ros.safety_node import SafetyNode  # noqa: E402
from roboalign_ros.sim_node import SimNode  # noqa: E402
from roboalign_ros.teleop_node import TeleopNode  # noqa: E402

pytestmark = pytest.mark.ros


def start(node_class, context, *ros_args: str):
    """Construct a node as `ros2 run` would, with these --ros-args; close it again."""
    node = node_class(context=context, cli_args=["--ros-args", *ros_args])
    try:
        return {name: node.get_parameter(name).value for name in node._parameters}
    finally:
        close = getattr(node, "close", None)
        if close is not None:
            close()
        node.destroy_node()


@pytest.mark.parametrize("node_class, typo, meant", [
    (SafetyNode, "watchdog_timeot", "watchdog_timeout"),
    (ExecutorNode, "crosfade", "crossfade"),
    (PolicyNode, "replan_perod", "replan_period"),
    (SimNode, "camera_rate", "camera_rate_hz"),
    (EStopNode, "rate", "rate_hz"),
    (SafetyNode, "estop_heartbeat_timout", "estop_heartbeat_timeout"),
    (TeleopNode, "control_rate", "control_rate_hz"),
    (ConsoleBridge, "estop_rate", "estop_rate_hz"),
])
def test_every_node_refuses_a_misspelt_parameter_naming_the_closest(node_class, typo, meant, context):
    with pytest.raises(ParameterError, match=f"{typo}: not a parameter of this node; did you mean {meant}\\?"):
        start(node_class, context, "-p", f"{typo}:=1")


def test_an_unknown_teleop_source_or_a_misspelt_config_override_is_refused(context):
    with pytest.raises(ParameterError, match="source: must be one of keyboard, gamepad, spacemouse, leader"):
        start(TeleopNode, context, "-p", "source:=joystick")
    with pytest.raises(ConfigError, match="controller.deadman: unknown key; did you mean deadman_s"):
        start(TeleopNode, context, "-p", "overrides:=['controller.deadman=0.3']")


def test_a_misspelt_parameter_in_a_params_file_is_refused(context, tmp_path):
    params = tmp_path / "safety.yaml"
    params.write_text("safety:\n  ros__parameters:\n    watchdog_timeot: 0.5\n")
    with pytest.raises(ParameterError, match="did you mean watchdog_timeout"):
        start(SafetyNode, context, "--params-file", str(params))


def test_an_integer_for_a_seconds_parameter_means_that_many_seconds(context):
    assert start(SafetyNode, context, "-p", "watchdog_timeout:=1")["watchdog_timeout"] == 1.0


@pytest.mark.parametrize("ros_arg, says", [
    ("watchdog_timeout:=100.0", "watchdog_timeout: must be between 0.01 and 10, got 100.0"),
    ("watchdog_timeout:=fast", "watchdog_timeout: expected a number, got 'fast'"),
    ("robot:=/nonexistent/robot.yaml", "/nonexistent/robot.yaml"),
])
def test_a_bad_value_is_refused_in_words(ros_arg, says, context):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        start(SafetyNode, context, "-p", ros_arg)


def test_safety_node_takes_joints_and_limits_from_a_robot_yaml(context, tmp_path):
    """configs/robots/*.yaml are RobotSpec YAMLs: the filter's limits and the monitored joints
    come from the file (here a 6-joint arm without a gripper: every joint is monitored)."""
    import numpy as np

    from roboalign.core.robot import JointLimits, RobotSpec

    spec = RobotSpec(name="six_axis", joint_names=tuple(f"arm_joint_{i}" for i in range(1, 7)),
                     limits=JointLimits(lower=np.full(6, -2.0), upper=np.full(6, 2.0), max_velocity=np.full(6, 1.2),
                                        max_acceleration=np.full(6, 5.0)), control_rate_hz=100.0)
    spec.save(tmp_path / "six_axis.yaml")
    node = SafetyNode(context=context, cli_args=["--ros-args", "-p", f"robot:={tmp_path / 'six_axis.yaml'}",
                                                 "-p", "velocity_scale:=0.5"])
    try:
        assert node.spec.joint_names == spec.joint_names
        np.testing.assert_allclose(node.filter.max_velocity, 0.6)
        np.testing.assert_allclose(node.filter.upper, 2.0 - 0.02)
        assert node.guard.following.joint_names == spec.joint_names and node.guard.following._mask.all()
        assert node.guard.stopped and "no e-stop heartbeat" in node.guard.reason  # the default: required
    finally:
        node.destroy_node()


def test_estop_node_refuses_an_unknown_input(context):
    with pytest.raises(ConfigError, match="input: must be one of keyboard, evdev, gamepad, got 'joystick'"):
        start(EStopNode, context, "-p", "input:=joystick")


def test_estop_node_without_a_terminal_says_so_in_one_line(ros_domain_id):
    result = subprocess.run([sys.executable, "-m", "roboalign_ros.estop_node"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True,  # no controlling terminal either
                            timeout=60, env={**os.environ, "ROS_DOMAIN_ID": str(ros_domain_id)})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("estop_node: ") and "no terminal: run estop_node in a terminal" in lines[0]


def test_policy_node_needs_both_curve_key_files_or_neither(context, tmp_path):
    with pytest.raises(ParameterError, match="client_secret_key: missing"):
        start(PolicyNode, context, "-p", f"server_public_key:={tmp_path / 'server.key'}")


def run_node_alone(module: str, *ros_args: str, domain_id: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, "--ros-args", *ros_args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "ROS_DOMAIN_ID": str(domain_id)})


@pytest.mark.parametrize("ros_args, says", [
    (("-p", "watchdog_timeot:=1"), "safety_node: node safety: watchdog_timeot: not a parameter of this node; "
                                   "did you mean watchdog_timeout?"),
    (("-p", "robot:=missing.yaml"), "safety_node: missing.yaml: robot: robot spec missing.yaml does not exist"),
])
def test_safety_node_started_alone_answers_a_mistake_in_one_line(ros_args, says, ros_domain_id):
    result = run_node_alone("roboalign_ros.safety_node", *ros_args, domain_id=ros_domain_id)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if line.startswith(says)]
    assert says in result.stderr


def test_graph_yaml_typo_is_refused_at_its_line_by_the_runner(ros_domain_id, tmp_path):
    from roboalign_ros.graph import default_graph_path

    text = default_graph_path().read_text().replace("      crossfade: 0.1\n", "      crosfade: 0.1\n")
    graph_file = tmp_path / "graph.yaml"
    graph_file.write_text(text)
    line = text.splitlines().index("      crosfade: 0.1") + 1
    graph = load_graph(graph_file)
    with pytest.raises(ConfigError) as info:
        GraphRunner(graph, domain_id=ros_domain_id, only=("executor",)).start()
    assert str(info.value).startswith(f"{graph_file}:{line}:7: nodes.executor.parameters.crosfade: "
                                      "not a parameter of this node; did you mean crossfade?")


def test_override_typo_is_refused_naming_the_set(ros_domain_id):
    with pytest.raises(ConfigError, match=r"^--set executor.crosfade=0.2: crosfade: .*did you mean crossfade\?"):
        GraphRunner(load_graph(), domain_id=ros_domain_id, only=("executor",),
                    overrides={"executor": {"crosfade": 0.2}}).start()
