"""The camera nodes of config/cameras.yaml on a workstation with a full ROS 2:

    ros2 launch roboalign_ros cameras.launch.py [graph:=/path/to/cameras.yaml]

Only composes: every node of the graph YAML becomes a launch_ros Node with its parameters and
remappings (the same file the in-process runner reads)."""
from __future__ import annotations

import os
from pathlib import Path

from roboalign_ros.graph import load_graph

CONFIG = Path(__file__).resolve().parent.parent / "config" / "cameras.yaml"


def node_arguments(config: Path = CONFIG) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of the graph YAML."""
    return [{"package": n.package, "executable": n.executable, "name": n.name, "parameters": [dict(n.parameters)],
             "remappings": list(n.remappings.items()), "output": "screen"} for n in load_graph(config).nodes]


def generate_launch_description():
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def nodes(context):
        config = Path(LaunchConfiguration("graph").perform(context))
        actions = []
        profile = load_graph(config).fastdds_profile
        if profile is not None and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
            actions.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", str(profile)))
        return actions + [Node(**kwargs) for kwargs in node_arguments(config)]

    return LaunchDescription([
        DeclareLaunchArgument("graph", default_value=str(CONFIG), description="graph YAML with the camera nodes"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")),
        OpaqueFunction(function=nodes),
    ])
