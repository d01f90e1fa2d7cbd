"""ament_python package: `colcon build` on a ROS 2 workstation, or `pip install -e` into the
project venv (the Makefile does that, so the nodes import beside the registry's rclpy).

launch/ and config/ are installed into share/roboalign_ros (found through the ament index,
roboalign_ros.graph.share_dir), so `ros2 launch roboalign_ros rollout_sim.launch.py` works
after `colcon build`. The `roboalign.commands` entry point adds `roboalign rollout` to the
project's CLI (runtime/ itself never imports ROS)."""
from glob import glob

from setuptools import setup

PACKAGE = "roboalign_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml") + glob("config/*.xml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="RoboAlign maintainers",
    maintainer_email="roboalign@example.com",
    description="Thin rclpy nodes of the RoboAlign runtime (sim arm, cameras, policy client, chunk executor, "
                "safety filter, e-stop input, ros2_control bridge, demonstration recorder, teleop, "
                "operator console bridge)",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"sim_node = {PACKAGE}.sim_node:main",
            f"policy_node = {PACKAGE}.policy_node:main",
            f"executor_node = {PACKAGE}.executor_node:main",
            f"safety_node = {PACKAGE}.safety_node:main",
            f"estop_node = {PACKAGE}.estop_node:main",
            f"camera_node = {PACKAGE}.camera_node:main",
            f"controller_bridge_node = {PACKAGE}.controller_bridge_node:main",
            f"recorder_node = {PACKAGE}.recorder_node:main",
            f"teleop_node = {PACKAGE}.teleop_node:main",
            f"console_bridge = {PACKAGE}.console_bridge:main",
        ],
        "roboalign.commands": [
            f"rollout = {PACKAGE}.rollout_cli",
            f"record = {PACKAGE}.record_cli",
            f"console = {PACKAGE}.console_cli",
        ],
    },
)
