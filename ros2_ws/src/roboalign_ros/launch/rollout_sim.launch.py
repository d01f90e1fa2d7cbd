"""Simulated rollout on a workstation with a full ROS 2 (Jazzy/Kilted + launch_ros):

    colcon build --base-paths ros2_ws && source install/setup.bash
    ros2 launch roboalign_ros rollout_sim.launch.py                     # server + the four nodes
    ros2 launch roboalign_ros rollout_sim.launch.py policy:=/path/to/ckpt
    ros2 launch roboalign_ros rollout_sim.launch.py start_server:=false endpoint:=tcp://gpu-box:5555 \
        server_public_key:=/etc/roboalign/server.key client_secret_key:=/etc/roboalign/robot1.key_secret

The nodes, their parameters and remappings come from config/rollout_sim.yaml beside this
file's folder (share/roboalign_ros/config once installed), the same file the in-process
runner (`roboalign rollout --sim`) reads, so the two never drift apart; `graph:=PATH` picks
another. A policy node receives the simulator's privileged /sim/objects only when the served
policy lists privileged inputs (the scripted expert), never for a checkpoint. This file only
composes: `node_arguments()` turns the YAML into launch_ros Node arguments (no launch import,
so the tests can check it where launch_ros is not installable).
"""
from __future__ import annotations

import os
from pathlib import Path

from roboalign_ros.graph import launch_node_arguments, load_graph, profile_environment

CONFIG = Path(__file__).resolve().parent.parent / "config" / "rollout_sim.yaml"


def node_arguments(config: Path = CONFIG, endpoint: str | None = None,
                   policy_parameters: dict | None = None) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of the graph YAML.
    endpoint replaces any node's `endpoint` parameter; policy_parameters are added to the
    node named `policy` (e.g. its CurveZMQ key files)."""
    graph = load_graph(config)
    overrides = {n.name: {"endpoint": endpoint} for n in graph.nodes if endpoint is not None and "endpoint" in n.parameters}
    overrides.setdefault("policy", {}).update(policy_parameters or {})
    out = launch_node_arguments(graph, overrides)
    for kwargs in out:
        kwargs.pop("managed")  # this graph has no lifecycle node
    return out


def fastdds_profile(config: Path = CONFIG) -> Path | None:
    return load_graph(config).fastdds_profile


def generate_launch_description():
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def nodes(context):
        value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
        config = Path(value("graph"))
        keys = {k: value(k) for k in ("server_public_key", "client_secret_key") if value(k)}
        actions = [SetEnvironmentVariable(name, value)
                   for name, value in profile_environment(fastdds_profile(config), os.environ).items()]
        actions += [Node(**kwargs) for kwargs in node_arguments(config, value("endpoint"), keys)]
        return actions

    return LaunchDescription([
        DeclareLaunchArgument("policy", default_value="expert", description="expert or a checkpoint folder"),
        DeclareLaunchArgument("endpoint", default_value="tcp://127.0.0.1:5555", description="inference server endpoint"),
        DeclareLaunchArgument("start_server", default_value="true", description="start `roboalign serve` here"),
        DeclareLaunchArgument("graph", default_value=str(CONFIG), description="node graph YAML"),
        DeclareLaunchArgument("server_public_key", default_value="",
                              description="CurveZMQ: the server's server.key (a remote server with --auth-keys)"),
        DeclareLaunchArgument("client_secret_key", default_value="",
                              description="CurveZMQ: this robot's <client>.key_secret (mode 0600)"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")),
        ExecuteProcess(
            cmd=["roboalign", "serve", "--policy", LaunchConfiguration("policy"),
                 "--bind", LaunchConfiguration("endpoint")],
            output="screen", condition=IfCondition(LaunchConfiguration("start_server")),
        ),
        OpaqueFunction(function=nodes),
    ])
