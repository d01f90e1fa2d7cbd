"""The teleop node without its device holds; the teleop graph is sim + teleop + safety, each
executable in setup.py. (Its misspelt and invalid parameters: test_node_parameters.py.)"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from roboalign_ros.graph import load_graph, share_dir  # noqa: E402
from roboalign_ros.teleop_node import TeleopNode  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "roboalign_ros"


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
