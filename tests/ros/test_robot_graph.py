"""The real-robot graph: rollout_robot.yaml and the variants built on it (`base:`), the launch file
and its wrapper, and graphs that build on graphs read the same way by launch and runner."""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from roboalign.errors import ConfigError
from roboalign_ros.graph import MANAGED_NODES, load_graph

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ros2_ws" / "src" / "roboalign_ros"
CONFIG = PACKAGE / "config"
ROBOT_LAUNCH = PACKAGE / "launch" / "rollout_robot.launch.py"
VARIANTS = ("fr3", "ur5e", "ur5e_forward", "sim")
NODE = "{name: %s, package: p, executable: e, class: 'm:C', parameters: {x: 1, y: 2}}"


def load_launch_file(path: Path):
    spec = importlib.util.spec_from_file_location(f"launch_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no launch/launch_ros at module level
    return module


def test_the_real_robot_graph_has_policy_executor_safety_and_bridge_and_no_sim():
    graph = load_graph(CONFIG / "rollout_robot.yaml")
    assert [n.name for n in graph.nodes] == ["policy", "executor", "safety", "controller_bridge"]
    assert graph.node("policy").parameters["simulation"] is False
    assert graph.node("controller_bridge").parameters["autostart"] is False  # the operator activates a real arm
    assert graph.fastdds_profile is not None


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_changes_only_its_driver_slot(variant):
    base = load_graph(CONFIG / "rollout_robot.yaml")
    graph = load_graph(CONFIG / f"rollout_robot_{variant}.yaml")
    for node in base.nodes:  # policy, executor and safety settings other than the robot come from the base
        mine = graph.node(node.name)
        slot = {"robot"} | (set(mine.parameters) if node.name == "controller_bridge" else set())
        if node.name == "safety":  # the driver's own stop service; the sim variant has no operator
            slot |= {"driver_stop_service"} | ({"require_estop_heartbeat", "joint_state_timeout"} if variant == "sim"
                                               else set())
        assert {k: v for k, v in mine.parameters.items() if k not in slot} == \
            {k: v for k, v in node.parameters.items() if k not in slot}
    robots = {graph.node(n).parameters["robot"] for n in ("executor", "safety", "controller_bridge")}
    assert len(robots) == 1, f"executor, safety and bridge must read one RobotSpec, got {robots}"


def test_the_sim_variant_is_the_real_graph_plus_the_sim_behind_the_controllers():
    base = load_graph(CONFIG / "rollout_robot.yaml")
    graph = load_graph(CONFIG / "rollout_robot_sim.yaml")
    assert [n.name for n in graph.nodes] == [n.name for n in base.nodes] + ["sim"]
    for node in base.nodes:
        changed = {k for k, v in graph.node(node.name).parameters.items() if node.parameters.get(k) != v}
        # No operator in-process: the bridge starts active and no e-stop heartbeat is required
        # (tested on its own in test_safety_faults); joint-state timeout with CI margin.
        expected = {"controller_bridge": {"autostart"}, "safety": {"require_estop_heartbeat", "joint_state_timeout"}}
        assert changed == expected.get(node.name, set())
        assert graph.node(node.name).remappings == node.remappings
    sim = graph.node("sim").parameters
    bridge = base.node("controller_bridge").parameters
    assert sim["command_interface"] == "ros2_control"
    assert (sim["arm_controller"], sim["arm_controller_mode"]) == (bridge["arm_controller"], bridge["mode"])
    assert (sim["gripper_controller"], sim["gripper_controller_mode"]) == (bridge["gripper_controller"], bridge["gripper_mode"])


@pytest.mark.parametrize("variant, controller, mode", [("fr3", "fr3_arm_controller", "joint_trajectory"),
                                                       ("ur5e", "scaled_joint_trajectory_controller", "joint_trajectory"),
                                                       ("ur5e_forward", "forward_position_controller", "forward_position")])
def test_driver_examples_name_their_drivers_controllers(variant, controller, mode):
    bridge = load_graph(CONFIG / f"rollout_robot_{variant}.yaml").node("controller_bridge").parameters
    assert (bridge["arm_controller"], bridge["mode"], bridge["gripper_mode"]) == (controller, mode, "none")
    assert len(bridge["arm_joints"]) == (7 if variant == "fr3" else 6)


def test_a_graph_builds_on_another_and_errors_point_at_the_file_that_set_the_value(tmp_path):
    (tmp_path / "base.yaml").write_text("graph: b\nnodes:\n  - " + NODE % "a" + "\n  - " + NODE % "b" + "\n")
    (tmp_path / "top.yaml").write_text(
        "base: base.yaml\nnodes:\n  - " + NODE % "c" + "\nparameters:\n  a: {y: 3, z: 4}\nremappings:\n  b: {/in: /out}\n")
    graph = load_graph(tmp_path / "top.yaml")
    assert [n.name for n in graph.nodes] == ["a", "b", "c"] and graph.name == "top"
    assert graph.node("a").parameters == {"x": 1, "y": 3, "z": 4}
    assert graph.node("b").remappings == {"/in": "/out"}
    assert str(graph.locate("a", "x", "x: bad")).startswith(f"{tmp_path / 'base.yaml'}:3:")
    assert str(graph.locate("a", "z", "z: bad")).startswith(f"{tmp_path / 'top.yaml'}:5:")


@pytest.mark.parametrize("top, message", [
    ("base: base.yaml\nparameters:\n  ab: {x: 1}\n", ":3:3: parameters.ab: no node of that name in this graph or its base; did you mean a?"),
    ("base: base.yaml\nparameters:\n  a: {x: {y: 1}}\n", "parameters.a.x: must be a scalar"),
    ("base: top.yaml\n", "loop"),
    ("base: absent.yaml\n", ":1:1: base: absent.yaml not found"),
    ("parameters:\n  a: {x: 1}\nnodes:\n  - " + NODE % "q" + "\n", "only a graph with a base"),
])
def test_a_graph_that_builds_on_another_says_what_is_wrong_and_where(tmp_path, top, message):
    (tmp_path / "base.yaml").write_text("nodes:\n  - " + NODE % "a" + "\n")
    (tmp_path / "top.yaml").write_text(top)
    with pytest.raises(ConfigError) as info:
        load_graph(tmp_path / "top.yaml")
    assert message in str(info.value)


@pytest.mark.parametrize("launch_file", [ROBOT_LAUNCH, REPO / "launch" / "rollout_robot.launch.py"], ids=["package", "wrapper"])
def test_robot_launch_file_builds_its_nodes_from_the_driver_yaml(launch_file, tmp_path):
    launch = load_launch_file(launch_file)
    config = launch.graph_path("fr3")
    assert config == CONFIG / "rollout_robot_fr3.yaml"
    robot = tmp_path / "my_fr3.yaml"
    args = launch.node_arguments(config, "tcp://gpu-box:5555", {"client_secret_key": "/k/robot1.key_secret"}, str(robot))
    graph = load_graph(config)
    assert [a["name"] for a in args] == [n.name for n in graph.nodes]
    for a, n in zip(args, graph.nodes):
        assert (a["package"], a["executable"]) == (n.package, n.executable)
        assert a["managed"] == (n.name == "controller_bridge")  # configured by launch, activated by the operator
        params = a["parameters"][0]
        assert params.get("robot", str(robot)) == str(robot)
        assert a["remappings"] == list(n.remappings.items())
    policy = args[0]["parameters"][0]
    assert policy["endpoint"] == "tcp://gpu-box:5555" and policy["client_secret_key"] == "/k/robot1.key_secret"
    with pytest.raises(ValueError, match="driver:='kuka': choose one of fr3, ur5e, ur5e_forward, sim"):
        launch.graph_path("kuka")
    assert launch.graph_path("", "/my/graph.yaml") == Path("/my/graph.yaml")


def test_managed_nodes_are_exactly_the_packages_lifecycle_nodes():
    pytest.importorskip("rclpy")
    from rclpy.lifecycle import LifecycleNode

    found = set()
    for path in sorted((PACKAGE / "roboalign_ros").glob("*_node.py")):
        module = importlib.import_module(f"roboalign_ros.{path.stem}")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, LifecycleNode) and value.__module__ == module.__name__:
                found.add(f"roboalign_ros.{path.stem}:{name}")
    assert found == set(MANAGED_NODES)


def test_the_bridge_is_a_console_script_of_the_package():
    tree = ast.parse((PACKAGE / "setup.py").read_text())
    scripts = {str(c.value).split(" = ")[0] for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
               for c in node.values if isinstance(c, ast.Constant) and " = " in str(c.value)}
    for variant in VARIANTS:
        for node in load_graph(CONFIG / f"rollout_robot_{variant}.yaml").nodes:
            assert node.executable in scripts


@pytest.mark.ros
def test_every_parameter_of_the_sim_variant_is_declared_by_its_node_and_the_bridge_starts_active(
        ros_domain_id, free_tcp_endpoint):
    pytest.importorskip("rclpy")
    from roboalign_ros.runner import GraphRunner

    graph = load_graph(CONFIG / "rollout_robot_sim.yaml")
    with GraphRunner(graph, domain_id=ros_domain_id, overrides={"policy": {"endpoint": free_tcp_endpoint}}) as runner:
        for spec in graph.nodes:
            node = runner.node(spec.name)
            for key, value in spec.parameters.items():
                if key != "endpoint":
                    assert node.get_parameter(key).value == value, f"{spec.name}.{key}"
        assert runner.node("controller_bridge").active
        assert runner.node("sim").controllers.topics == ("/arm_controller/joint_trajectory",
                                                         "/gripper_controller/joint_trajectory")


@pytest.mark.ros
def test_rollout_runs_the_real_robot_graph_with_the_sim_behind_the_controllers(ros_domain_id, tmp_path):
    pytest.importorskip("rclpy")
    import json

    from roboalign.cli import main

    out = tmp_path / "rollout.json"
    code = main(["rollout", "--sim", "--graph", str(CONFIG / "rollout_robot_sim.yaml"), "--episodes", "1",
                 "--seed", "1", "--policy", str(REPO / "models" / "roboalign-sim-touch-tiny"),
                 "--domain-id", str(ros_domain_id), "--json", str(out)])
    summary = json.loads(out.read_text())
    assert code == 0 and summary["successes"] == 1, summary["per_episode"]
    assert summary["latency_ms"]["command->controller"]["n"] > 50  # every command went through the bridge
    assert summary["per_episode"][0]["safety"]["rejected"] == 0


@pytest.mark.ros
def test_the_sim_variant_refuses_a_policy_that_needs_privileged_inputs_like_a_robot(ros_domain_id, capsys):
    pytest.importorskip("rclpy")
    from roboalign.cli import main

    code = main(["rollout", "--sim", "--graph", str(CONFIG / "rollout_robot_sim.yaml"), "--episodes", "1",
                 "--policy", "expert", "--domain-id", str(ros_domain_id)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "privileged" in err[-1]
