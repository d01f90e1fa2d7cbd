"""The teleop node and the console bridge fail closed on their parameters, like every node; the
teleop graph is sim + teleop + safety, each executable in setup.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402

from roboalign.errors import ConfigError  # noqa: E402
from roboalign_ros.console_bridge import ConsoleBridge  # noqa: E402
from roboalign_ros.graph import load_graph, share_dir  # noqa: E402
from roboalign_ros.params import ParameterError  # noqa: E402
from roboalign_ros.teleop_node import TeleopNode  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "roboalign_ros"


@pytest.fixture
def context(ros_domain_id):
    ctx = Context()
    rclpy.init(args=[], context=ctx, domain_id=ros_domain_id)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def start(node_class, context, *ros_args: str) -> None:
    node = node_class(context=context, cli_args=["--ros-args", *ros_args])
    node.close()
    node.destroy_node()


@pytest.mark.parametrize("node_class, typo, meant", [
    (TeleopNode, "control_rate", "control_rate_hz"),
    (ConsoleBridge, "estop_rate", "estop_rate_hz"),
])
def test_a_misspelt_parameter_is_refused_naming_the_closest(node_class, typo, meant, context):
    with pytest.raises(ParameterError, match=f"{typo}: not a parameter of this node; did you mean {meant}\\?"):
        start(node_class, context, "-p", f"{typo}:=1")


def test_an_unknown_source_or_a_misspelt_config_override_is_refused(context):
    with pytest.raises(ParameterError, match="source: must be one of keyboard, gamepad, spacemouse, leader"):
        start(TeleopNode, context, "-p", "source:=joystick")
    with pytest.raises(ConfigError, match="controller.deadman: unknown key; did you mean deadman_s"):
        start(TeleopNode, context, "-p", "overrides:=['controller.deadman=0.3']")


def test_a_gamepad_source_without_a_gamepad_holds_and_says_why(context):
    node = TeleopNode(context=context, cli_args=["--ros-args", "-p", "source:=gamepad",
                                                 "-p", "overrides:=['gamepad.index=99']"])
    try:
        assert node.device is None and "no gamepad" in node.device_error
    finally:
        node.close()
        node.destroy_node()


def test_the_teleop_graph_is_sim_teleop_and_safety_with_their_executables_in_setup_py():
    graph = load_graph(share_dir() / "config" / "teleop_sim.yaml")
    assert [n.name for n in graph.nodes] == ["sim", "teleop", "safety"]
    assert graph.node("teleop").node_class == "roboalign_ros.teleop_node:TeleopNode"
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    entries = [v.value for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
               for v in node.values if isinstance(v, ast.Constant) and " = " in str(v.value)]
    names = {e.split(" = ")[0] for e in entries}
    assert {"teleop_node", "console_bridge", "console"} <= names


def test_the_teleop_launch_file_builds_its_nodes_from_the_same_yaml():
    import importlib.util

    spec = importlib.util.spec_from_file_location("teleop_launch", PACKAGE / "launch" / "teleop_sim.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)  # imports no launch/launch_ros at module level
    args = launch.node_arguments(source="gamepad")
    assert [a["name"] for a in args] == ["sim", "teleop", "safety"]
    assert args[1]["parameters"][0]["source"] == "gamepad" and args[1]["executable"] == "teleop_node"
