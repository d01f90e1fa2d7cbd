"""ROS 2 message definitions (rosbag2-style schema text: the .msg, then each nested type after a
line of 80 "=") for the channels of a recording, so `ros2 bag`, Foxglove and mcap_ros2 decode
them without a ROS install. Generated from the .msg files of the ROS 2 Kilted wheels (comments
stripped; the type hash depends only on fields and types).
"""
from __future__ import annotations

_SEPARATOR = "=" * 80 + "\n"
# The nested definitions every message with a std_msgs/Header appends after its own fields.
_HEADER_DEPENDENCIES = (
    _SEPARATOR + "MSG: std_msgs/Header\n"
    "builtin_interfaces/Time stamp\n"
    "string frame_id\n"
    + _SEPARATOR + "MSG: builtin_interfaces/Time\n"
    "int32 sec\n"
    "uint32 nanosec\n"
)

SCHEMAS: dict[str, str] = {
    "sensor_msgs/msg/Image": (
        'std_msgs/Header header\n'
        'uint32 height\n'
        'uint32 width\n'
        'string encoding\n'
        'uint8 is_bigendian\n'
        'uint32 step\n'
        'uint8[] data\n'
        + _HEADER_DEPENDENCIES
    ),
    "sensor_msgs/msg/CompressedImage": (
        'std_msgs/Header header\n'
        'string format\n'
        'uint8[] data\n'
        + _HEADER_DEPENDENCIES
    ),
    "sensor_msgs/msg/JointState": (
        'std_msgs/Header header\n'
        'string[] name\n'
        'float64[] position\n'
        'float64[] velocity\n'
        'float64[] effort\n'
        + _HEADER_DEPENDENCIES
    ),
    "trajectory_msgs/msg/JointTrajectory": (
        'std_msgs/Header header\n'
        'string[] joint_names\n'
        'JointTrajectoryPoint[] points\n'
        '================================================================================\n'
        'MSG: std_msgs/Header\n'
        'builtin_interfaces/Time stamp\n'
        'string frame_id\n'
        '================================================================================\n'
        'MSG: trajectory_msgs/JointTrajectoryPoint\n'
        'float64[] positions\n'
        'float64[] velocities\n'
        'float64[] accelerations\n'
        'float64[] effort\n'
        'builtin_interfaces/Duration time_from_start\n'
        '================================================================================\n'
        'MSG: builtin_interfaces/Time\n'
        'int32 sec\n'
        'uint32 nanosec\n'
        '================================================================================\n'
        'MSG: builtin_interfaces/Duration\n'
        'int32 sec\n'
        'uint32 nanosec\n'
    ),
    "std_msgs/msg/String": (
        'string data\n'
    ),
    "std_msgs/msg/Bool": (
        'bool data\n'
    ),
    "diagnostic_msgs/msg/DiagnosticArray": (
        'std_msgs/Header header\n'
        'DiagnosticStatus[] status\n'
        '================================================================================\n'
        'MSG: std_msgs/Header\n'
        'builtin_interfaces/Time stamp\n'
        'string frame_id\n'
        '================================================================================\n'
        'MSG: diagnostic_msgs/DiagnosticStatus\n'
        'byte OK=0\n'
        'byte WARN=1\n'
        'byte ERROR=2\n'
        'byte STALE=3\n'
        'byte level\n'
        'string name\n'
        'string message\n'
        'string hardware_id\n'
        'KeyValue[] values\n'
        '================================================================================\n'
        'MSG: builtin_interfaces/Time\n'
        'int32 sec\n'
        'uint32 nanosec\n'
        '================================================================================\n'
        'MSG: diagnostic_msgs/KeyValue\n'
        'string key\n'
        'string value\n'
    ),
}
