"""The node graph YAML: valid, found in the package's share folder, read the same way by the
launch file and the runner, and every parameter in it is one its node really declares."""
from __future__ import annotations

import ast
import importlib.util
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from roboalign.errors import ConfigError
from roboalign_ros.graph import default_graph_path, load_graph, share_dir

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ros2_ws" / "src" / "roboalign_ros"
LAUNCH = PACKAGE / "launch" / "rollout_sim.launch.py"


def load_launch_file(path: Path):
    spec = importlib.util.spec_from_file_location(f"launch_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no launch/launch_ros at module level
    return module


def test_rollout_graph_has_the_four_nodes_and_its_fastdds_profile():
    graph = load_graph()
    assert [n.name for n in graph.nodes] == ["sim", "policy", "executor", "safety"]
    assert {n.executor for n in graph.nodes} == {"sim", "policy", "control"}
    root = ET.parse(graph.fastdds_profile).getroot()
    sizes = [int(e.text) for e in root.iter() if e.tag.endswith("segment_size")]
    assert sizes and sizes[0] >= 16 * 1024 * 1024  # larger than a 640x480 rgb8 frame, many times over


def test_graph_and_launch_file_live_in_the_package_share_folder(monkeypatch):
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)  # no colcon install: the source tree
    monkeypatch.delenv("ROBOALIGN_GRAPH", raising=False)
    assert share_dir() == PACKAGE
    assert default_graph_path() == PACKAGE / "config" / "rollout_sim.yaml"
    assert not (REPO / "launch" / "config").exists()


def test_share_folder_is_found_through_the_ament_index_of_an_install(tmp_path, monkeypatch):
    # What `colcon build` installs: share/ament_index/.../packages/roboalign_ros + share/roboalign_ros.
    prefix = tmp_path / "install"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "roboalign_ros").write_text("")
    shutil.copytree(PACKAGE / "config", prefix / "share" / "roboalign_ros" / "config")
    shutil.copytree(PACKAGE / "launch", prefix / "share" / "roboalign_ros" / "launch")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    monkeypatch.delenv("ROBOALIGN_GRAPH", raising=False)
    assert share_dir() == prefix / "share" / "roboalign_ros"
    graph = load_graph()
    assert graph.source == prefix / "share" / "roboalign_ros" / "config" / "rollout_sim.yaml"
    installed_launch = load_launch_file(prefix / "share" / "roboalign_ros" / "launch" / "rollout_sim.launch.py")
    assert installed_launch.CONFIG == graph.source.resolve()


def test_setup_installs_launch_and_config_into_share():
    text = (PACKAGE / "setup.py").read_text()
    assert 'f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))' in text
    assert 'f"share/{PACKAGE}/config"' in text and 'glob("config/*.yaml")' in text and 'glob("config/*.xml")' in text
    assert "ament_index_python" in (PACKAGE / "package.xml").read_text()


@pytest.mark.parametrize("launch_file", [LAUNCH, REPO / "launch" / "rollout_sim.launch.py"], ids=["package", "wrapper"])
def test_launch_file_builds_its_nodes_from_the_same_yaml(launch_file):
    launch = load_launch_file(launch_file)
    args = launch.node_arguments(endpoint="tcp://127.0.0.1:6000",
                                 policy_parameters={"server_public_key": "/k/server.key"})
    graph = load_graph(launch.CONFIG)
    assert [a["name"] for a in args] == [n.name for n in graph.nodes]
    for a, n in zip(args, graph.nodes):
        assert (a["package"], a["executable"]) == (n.package, n.executable)
        expected = dict(n.parameters)
        if "endpoint" in expected:
            expected["endpoint"] = "tcp://127.0.0.1:6000"
        if n.name == "policy":
            expected["server_public_key"] = "/k/server.key"
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
    ("nodes: []", "nodes: needs a non-empty 'nodes' list"),
    ("nodes:\n  - {name: a, package: p, executable: e}", ":2:5: nodes.0: lacks class"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C', colour: red}", ":2:56: nodes.0.colour: unknown key"),
    ("nodes:\n  - {name: a, package: p, executable: e, clas: 'm:C'}", "did you mean class?"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: m.C}", "module:Class"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C', parameters: {x: {y: 1}}}", "nodes.0.parameters.x: must be a scalar"),
    ("nodes:\n  - {name: a, package: p, executable: e, class: 'm:C'}\n  - {name: a, package: p, executable: e, class: 'm:C'}", "unique"),
    ("fastdds_profile: /nope/nope.xml\nnodes:\n  - {name: a, package: p, executable: e, class: 'm:C'}", ":1:1: fastdds_profile: /nope/nope.xml not found"),
    ("graph: g\nnode:\n  - {name: a}", ":2:1: node: unknown key; did you mean nodes?"),
    ("nodes:\n  - {name: a, package: p\n", "malformed YAML"),
])
def test_graph_loader_names_what_is_wrong_and_where(tmp_path, text, message):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_missing_graph_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="--graph PATH or set ROBOALIGN_GRAPH"):
        load_graph(tmp_path / "absent.yaml")


def test_graph_copied_elsewhere_keeps_the_packages_fastdds_profile(tmp_path):
    copy = tmp_path / "my_graph.yaml"
    shutil.copy(default_graph_path(), copy)  # fastdds_profile.xml is not beside it
    graph = load_graph(copy)
    assert graph.fastdds_profile == (PACKAGE / "config" / "fastdds_profile.xml").resolve()
    (tmp_path / "fastdds_profile.xml").write_text((PACKAGE / "config" / "fastdds_profile.xml").read_text())
    assert load_graph(copy).fastdds_profile == (tmp_path / "fastdds_profile.xml").resolve()  # beside it wins
