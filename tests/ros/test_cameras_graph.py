"""config/cameras.yaml (the camera nodes of a real robot) and cameras.launch.py: every node a
console script, every parameter one the camera node declares, the launch file built from the
same YAML; the camera node refuses a misspelt or missing parameter in one line."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from roboalign_ros.graph import load_graph

PACKAGE = Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "roboalign_ros"
CAMERAS = PACKAGE / "config" / "cameras.yaml"


def test_the_cameras_launch_file_builds_its_nodes_from_the_yaml():
    spec = importlib.util.spec_from_file_location("cameras_launch", PACKAGE / "launch" / "cameras.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    graph = load_graph(CAMERAS)
    args = launch.node_arguments(CAMERAS)
    assert [a["name"] for a in args] == [n.name for n in graph.nodes] == ["camera_front", "camera_wrist"]
    assert all(a["parameters"] == [n.parameters] for a, n in zip(args, graph.nodes))
    assert graph.fastdds_profile is not None


def test_camera_node_is_a_console_script():
    assert 'f"camera_node = {PACKAGE}.camera_node:main"' in (PACKAGE / "setup.py").read_text()
    assert all(n.executable == "camera_node" for n in load_graph(CAMERAS).nodes)


@pytest.mark.ros
def test_every_cameras_yaml_parameter_is_declared_and_a_missing_device_does_not_stop_the_node(ros_domain_id):
    pytest.importorskip("rclpy")
    from roboalign_ros.runner import GraphRunner

    graph = load_graph(CAMERAS)
    overrides = {"camera_wrist": {"source": "/dev/video-none"}}  # never a real device, on any machine
    with GraphRunner(graph, domain_id=ros_domain_id, overrides=overrides) as runner:
        for spec in graph.nodes:
            node = runner.node(spec.name)
            for key, value in spec.parameters.items():
                assert node.has_parameter(key), f"{spec.name}: YAML sets undeclared parameter {key!r}"
                if key != "source" or spec.name != "camera_wrist":
                    assert node.get_parameter(key).value == value
        wrist = runner.node("camera_wrist")
        assert wrist.lifecycle_state == "unconfigured" and "/dev/video-none does not exist" in wrist.problem


@pytest.mark.ros
@pytest.mark.parametrize("params, says", [
    ({"source": "realsense", "fsp": 30}, "fsp: not a parameter of this node; did you mean fps?"),
    ({"source": ""}, "source: empty; name the camera"),
    ({"source": "realsense", "jpeg_quality": 5}, "jpeg_quality: must be between 10 and 100"),
])
def test_the_camera_node_refuses_a_bad_parameter_in_words(ros_domain_id, params, says):
    pytest.importorskip("rclpy")
    from roboalign.errors import ConfigError
    from roboalign_ros.graph import GraphSpec, NodeSpec
    from roboalign_ros.runner import GraphRunner

    spec = NodeSpec(name="camera_front", package="roboalign_ros", executable="camera_node",
                    node_class="roboalign_ros.camera_node:CameraNode", parameters=params)
    with pytest.raises(ConfigError, match=says):
        GraphRunner(GraphSpec(name="g", nodes=(spec,)), domain_id=ros_domain_id).start()
