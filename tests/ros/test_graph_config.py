"""The node graph YAML: valid, read the same way by the launch file and the runner, and every
parameter in it is one its node really declares (a typo would otherwise be silently ignored)."""
from __future__ import annotations

import ast
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from roboalign_ros.graph import load_graph

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "rollout_sim.launch.py"
PACKAGE = REPO / "ros2_ws" / "src" / "roboalign_ros"


def test_rollout_graph_has_the_four_nodes_and_its_fastdds_profile():
    graph = load_graph()
    assert [n.name for n in graph.nodes] == ["sim", "policy", "executor", "safety"]
    assert {n.executor for n in graph.nodes} == {"sim", "policy", "control"}
    root = ET.parse(graph.fastdds_profile).getroot()
    sizes = [int(e.text) for e in root.iter() if e.tag.endswith("segment_size")]
    assert sizes and sizes[0] >= 16 * 1024 * 1024  # larger than a 640x480 rgb8 frame, many times over


def test_launch_file_builds_its_nodes_from_the_same_yaml():
    spec = importlib.util.spec_from_file_location("rollout_sim_launch", LAUNCH)
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)  # imports no launch/launch_ros at module level
    args = launch.node_arguments(endpoint="tcp://127.0.0.1:6000")
    graph = load_graph(launch.CONFIG)
    assert [a["name"] for a in args] == [n.name for n in graph.nodes]
    for a, n in zip(args, graph.nodes):
        assert (a["package"], a["executable"]) == (n.package, n.executable)
        expected = dict(n.parameters)
        if "endpoint" in expected:
            expected["endpoint"] = "tcp://127.0.0.1:6000"
        assert a["parameters"] == [expected]
        assert a["remappings"] == list(n.remappings.items())
    assert launch.fastdds_profile() == graph.fastdds_profile


def test_every_executable_is_a_console_script_of_the_package():
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    scripts = [node.value for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
               for node in node.values if isinstance(node, ast.Constant) and " = " in str(node.value)]
    names = {s.split(" = ")[0] for s in scripts}
    for node in load_graph().nodes:
        assert node.executable in names, f"{node.executable} missing from setup.py console_scripts"
        assert node.node_class.startswith(f"{node.package}.")
    assert (PACKAGE / "resource" / "roboalign_ros").is_file() and "ament_python" in (PACKAGE / "package.xml").read_text()


@pytest.mark.ros
def test_every_yaml_parameter_is_declared_by_its_node(ros_domain_id, free_tcp_endpoint):
    pytest.importorskip("rclpy")
    from roboalign_ros.runner import GraphRunner

    graph = load_graph()
    # No server listens there: the policy node starts anyway and simply publishes nothing.
    with GraphRunner(graph, domain_id=ros_domain_id, overrides={"policy": {"endpoint": free_tcp_endpoint}}) as runner:
        for spec in graph.nodes:
            node = runner.node(spec.name)
            assert node.get_name() == spec.name
            for key, value in spec.parameters.items():
                if spec.name == "policy" and key == "endpoint":
                    continue
                assert node.has_parameter(key), f"{spec.name}: YAML sets undeclared parameter {key!r}"
                assert node.get_parameter(key).value == value


@pytest.mark.parametrize("text, message", [
    ("nodes: []", "non-empty 'nodes'"),
    ("nodes:\n  - {name: a, package: p, executable: e}", "lacks ['class']"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C', colour: red}", "unknown keys ['colour']"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: m.C}", "module:Class"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C', parameters: {x: {y: 1}}}", "parameter 'x'"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C'}\n  - {name: a, package: p, executable: e, class: 'm:C'}", "unique"),
    ("fastdds_profile: nope.xml\nnodes:\n  - {name: a, package: p, executable: e, class: 'm:C'}", "does not exist"),
])
def test_graph_loader_names_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_graph(path)


def test_missing_graph_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="ROBOALIGN_GRAPH"):
        load_graph(tmp_path / "absent.yaml")
