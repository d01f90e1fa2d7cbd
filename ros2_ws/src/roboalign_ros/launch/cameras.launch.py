"""The camera nodes of config/cameras.yaml on a workstation with a full ROS 2:

    ros2 launch roboalign_ros cameras.launch.py [graph:=/path/to/cameras.yaml]

Only composes: every node of the graph YAML becomes a launch_ros Node with its parameters and
remappings (the same file the in-process runner reads)."""
from __future__ import annotations

import os
from pathlib import Path

from roboalign_ros.graph import launch_node_arguments, load_graph, profile_environment

CONFIG = Path(__file__).resolve().parent.parent / "config" / "cameras.yaml"


def node_arguments(config: Path = CONFIG) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of the graph YAML."""
    out = launch_node_arguments(load_graph(config))
    for kwargs in out:
        kwargs.pop("managed")  # camera nodes are plain nodes
    return out


def generate_launch_description():
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def nodes(context):
        config = Path(LaunchConfiguration("graph").perform(context))
        actions = [SetEnvironmentVariable(name, value)
                   for name, value in profile_environment(load_graph(config).fastdds_profile, os.environ).items()]
        return actions + [Node(**kwargs) for kwargs in node_arguments(config)]

    return LaunchDescription([
        DeclareLaunchArgument("graph", default_value=str(CONFIG), description="graph YAML with the camera nodes"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")),
        OpaqueFunction(function=nodes),
    ])
