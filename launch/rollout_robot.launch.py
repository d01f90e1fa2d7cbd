"""Thin wrapper, so the launch file can be started from a source checkout by path:

    ros2 launch launch/rollout_robot.launch.py driver:=fr3 [endpoint:=...] [activate:=false] ...

is the same as `ros2 launch roboalign_ros rollout_robot.launch.py ...` after `colcon build`.
The launch file and the graph YAMLs it reads live in the ROS package
(ros2_ws/src/roboalign_ros/launch/, .../config/rollout_robot*.yaml), installed into
share/roboalign_ros. Bringing up a real arm: docs/robot.md.
"""
import importlib.util
from pathlib import Path

PACKAGE_LAUNCH = (Path(__file__).resolve().parent.parent / "ros2_ws" / "src" / "roboalign_ros"
                  / "launch" / "rollout_robot.launch.py")

_spec = importlib.util.spec_from_file_location("roboalign_ros_rollout_robot_launch", PACKAGE_LAUNCH)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

CONFIG_DIR = _module.CONFIG_DIR
DRIVERS = _module.DRIVERS
graph_path = _module.graph_path
node_arguments = _module.node_arguments
fastdds_profile = _module.fastdds_profile
generate_launch_description = _module.generate_launch_description
