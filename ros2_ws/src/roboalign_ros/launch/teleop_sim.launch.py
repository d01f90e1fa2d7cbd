"""Teleoperation of the simulated arm on a workstation with a full ROS 2 (launch_ros):

    ros2 launch roboalign_ros teleop_sim.launch.py                      # sim + teleop + safety
    ros2 launch roboalign_ros teleop_sim.launch.py source:=gamepad      # or spacemouse, leader
    roboalign console --teleop-keys                                     # in another terminal: keys, e-stop

The nodes, parameters and remappings come from config/teleop_sim.yaml (the file the in-process
runner reads); `graph:=PATH` picks another. This file only composes: node_arguments() turns
the YAML into launch_ros Node arguments (no launch import, so tests check it without launch_ros).
"""
from __future__ import annotations

import os
from pathlib import Path

from roboalign_ros.graph import launch_node_arguments, load_graph, profile_environment

CONFIG = Path(__file__).resolve().parent.parent / "config" / "teleop_sim.yaml"


def node_arguments(config: Path = CONFIG, source: str | None = None) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of the graph; source replaces
    the teleop node's source."""
    graph = load_graph(config)
    out = launch_node_arguments(graph, {"teleop": {"source": source}} if source else None)
    for kwargs in out:
        kwargs.pop("managed")  # this graph has no lifecycle node
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
        source = LaunchConfiguration("source").perform(context) or None
        return actions + [Node(**kwargs) for kwargs in node_arguments(config, source)]

    return LaunchDescription([
        DeclareLaunchArgument("graph", default_value=str(CONFIG), description="node graph YAML"),
        DeclareLaunchArgument("source", default_value="", description="keyboard, gamepad, spacemouse or leader"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")),
        OpaqueFunction(function=nodes),
    ])
