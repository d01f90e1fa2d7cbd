"""Rollout on a real arm, on a workstation with a full ROS 2 (Humble/Jazzy/Kilted + launch_ros):

    colcon build --base-paths ros2_ws && source install/setup.bash
    # the arm driver first (franka_bringup / ur_robot_driver), then:
    ros2 launch roboalign_ros rollout_robot.launch.py driver:=fr3 \\
        endpoint:=tcp://gpu-box:5555 \\
        server_public_key:=/etc/roboalign/server.key client_secret_key:=/etc/roboalign/robot1.key_secret
    ros2 lifecycle set /controller_bridge activate      # the arm moves from here on

driver: fr3, ur5e, ur5e_forward (config/rollout_robot_<driver>.yaml beside this file's folder)
or sim (the same graph with the MuJoCo arm behind the controller interface); graph:=PATH picks
any graph YAML instead. robot:=PATH gives every node that reads a RobotSpec (executor, safety,
bridge) that file, made absolute from where you launch. The inference server normally runs on
the GPU host (`roboalign serve --bind tcp://0.0.0.0:5555 --auth-keys ...` there);
start_server:=true starts one here instead.

The controller bridge is a lifecycle node: this file configures it (parameters and joint
routing checked; a mistake leaves it unconfigured and its log says why) and activates it only
with activate:=true. Everything else starts at once and holds still until the bridge is active.
Step by step, and what stays the job of the hardware e-stop: docs/robot.md. This file only
composes: `node_arguments()` turns the YAML into launch_ros arguments without importing launch,
so the tests check it where launch_ros is not installable.
"""
from __future__ import annotations

import os
from pathlib import Path

from roboalign_ros.graph import launch_node_arguments, load_graph, profile_environment

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DRIVERS = ("fr3", "ur5e", "ur5e_forward", "sim")


def graph_path(driver: str = "", graph: str = "") -> Path:
    """graph:=PATH wins; else config/rollout_robot_<driver>.yaml; else a ValueError that says both."""
    if graph:
        return Path(graph).expanduser()
    if driver not in DRIVERS:
        raise ValueError(f"driver:={driver!r}: choose one of {', '.join(DRIVERS)}, or give graph:=PATH "
                         "(a graph YAML with `base: rollout_robot.yaml`)")
    return CONFIG_DIR / f"rollout_robot_{driver}.yaml"


def node_arguments(config: Path, endpoint: str | None = None, policy_parameters: dict | None = None,
                   robot: str | None = None) -> list[dict]:
    """launch_ros Node/LifecycleNode keyword arguments for every node of the graph YAML (each
    with "managed": pop it and launch a LifecycleNode when True). endpoint: the policy node's
    server; policy_parameters: added to the policy node (its CurveZMQ key files); robot: the
    RobotSpec path for every node that has a `robot` parameter."""
    graph = load_graph(config)
    overrides: dict[str, dict] = {}
    for node in graph.nodes:
        if robot and "robot" in node.parameters:
            overrides.setdefault(node.name, {})["robot"] = str(Path(robot).expanduser().resolve())
        if endpoint and "endpoint" in node.parameters:
            overrides.setdefault(node.name, {})["endpoint"] = endpoint
    if policy_parameters:
        overrides.setdefault("policy", {}).update(policy_parameters)
    return launch_node_arguments(graph, overrides)


def fastdds_profile(config: Path) -> Path | None:
    return load_graph(config).fastdds_profile


def generate_launch_description():
    from launch.actions import (
        DeclareLaunchArgument,
        EmitEvent,
        ExecuteProcess,
        OpaqueFunction,
        RegisterEventHandler,
        SetEnvironmentVariable,
    )
    from launch.conditions import IfCondition
    from launch.events import matches_action
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    from launch import LaunchDescription

    def nodes(context):
        value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
        config = graph_path(value("driver"), value("graph"))
        keys = {k: value(k) for k in ("server_public_key", "client_secret_key") if value(k)}
        actions = [SetEnvironmentVariable(name, value)
                   for name, value in profile_environment(fastdds_profile(config), os.environ).items()]
        for kwargs in node_arguments(config, value("endpoint"), keys, value("robot") or None):
            if not kwargs.pop("managed"):
                actions.append(Node(**kwargs))
                continue
            node = LifecycleNode(namespace="", **kwargs)
            actions.append(node)
            if kwargs["parameters"][0].get("autostart"):
                continue  # it configures and activates itself
            if value("activate").lower() == "true":
                actions.append(RegisterEventHandler(OnStateTransition(
                    target_lifecycle_node=node, goal_state="inactive",
                    entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                          transition_id=Transition.TRANSITION_ACTIVATE))])))
            actions.append(EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                       transition_id=Transition.TRANSITION_CONFIGURE)))
        return actions

    return LaunchDescription([
        DeclareLaunchArgument("driver", default_value="", description=f"arm driver slot: {', '.join(DRIVERS)}"),
        DeclareLaunchArgument("graph", default_value="", description="a graph YAML instead of driver:="),
        DeclareLaunchArgument("robot", default_value="", description="RobotSpec YAML for executor, safety and bridge"),
        DeclareLaunchArgument("endpoint", default_value="tcp://127.0.0.1:5555", description="inference server endpoint"),
        DeclareLaunchArgument("server_public_key", default_value="",
                              description="CurveZMQ: the server's server.key (a remote server with --auth-keys)"),
        DeclareLaunchArgument("client_secret_key", default_value="",
                              description="CurveZMQ: this robot's <client>.key_secret (mode 0600)"),
        DeclareLaunchArgument("activate", default_value="false",
                              description="activate the controller bridge at once (else: ros2 lifecycle set ... activate)"),
        DeclareLaunchArgument("start_server", default_value="false", description="start `roboalign serve` on this host"),
        DeclareLaunchArgument("policy", default_value="", description="checkpoint folder for start_server:=true"),
        ExecuteProcess(
            cmd=["roboalign", "serve", "--policy", LaunchConfiguration("policy"),
                 "--bind", LaunchConfiguration("endpoint")],
            output="screen", condition=IfCondition(LaunchConfiguration("start_server")),
        ),
        OpaqueFunction(function=nodes),
    ])
