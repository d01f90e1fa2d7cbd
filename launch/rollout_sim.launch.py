"""Simulated rollout on a workstation with a full ROS 2 (Humble/Jazzy/Kilted + launch_ros):

    colcon build --base-paths ros2_ws && source install/setup.bash
    ros2 launch launch/rollout_sim.launch.py                       # server + the four nodes
    ros2 launch launch/rollout_sim.launch.py policy:=/path/to/ckpt start_server:=false

The nodes, their parameters and remappings come from config/rollout_sim.yaml, the same file the
in-process runner (`roboalign rollout --sim`) reads, so the two never drift apart. This file only
composes: `node_arguments()` turns the YAML into launch_ros Node arguments (no launch import,
so the tests can check it where launch_ros is not installable).
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parent / "config" / "rollout_sim.yaml"


def node_arguments(config: Path = CONFIG, endpoint: str | None = None) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of the graph YAML."""
    graph = yaml.safe_load(config.read_text())
    out = []
    for node in graph["nodes"]:
        params = dict(node.get("parameters") or {})
        if endpoint is not None and "endpoint" in params:
            params["endpoint"] = endpoint
        out.append({
            "package": node["package"],
            "executable": node["executable"],
            "name": node["name"],
            "parameters": [params],
            "remappings": list((node.get("remappings") or {}).items()),
            "output": "screen",
        })
    return out


def fastdds_profile(config: Path = CONFIG) -> Path | None:
    profile = (yaml.safe_load(config.read_text()) or {}).get("fastdds_profile")
    return (config.parent / profile).resolve() if profile else None


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def nodes(context):
        endpoint = LaunchConfiguration("endpoint").perform(context)
        return [Node(**kwargs) for kwargs in node_arguments(endpoint=endpoint)]

    actions = [
        DeclareLaunchArgument("policy", default_value="expert", description="expert or a checkpoint folder"),
        DeclareLaunchArgument("endpoint", default_value="tcp://127.0.0.1:5555", description="inference server endpoint"),
        DeclareLaunchArgument("start_server", default_value="true", description="start `roboalign serve` here"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")),
    ]
    profile = fastdds_profile()
    if profile is not None and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        actions.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", str(profile)))
    actions.append(ExecuteProcess(
        cmd=["roboalign", "serve", "--policy", LaunchConfiguration("policy"), "--bind", LaunchConfiguration("endpoint")],
        output="screen", condition=IfCondition(LaunchConfiguration("start_server")),
    ))
    actions.append(OpaqueFunction(function=nodes))
    return LaunchDescription(actions)
