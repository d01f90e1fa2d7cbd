"""The QoS profiles of the graph (shared/DESIGN.md, recipes/ros2-wheels.md section 4).

Publisher and subscriber of a topic must use the same profile: a RELIABLE subscriber never
matches a BEST_EFFORT publisher, and the only sign is a WARN line in the log.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

# Camera frames and joint states: best effort, keep the newest few; a late frame is worthless.
SENSOR = qos_profile_sensor_data

# Chunks and joint commands: every message counts, and a short queue bounds the backlog.
COMMAND = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)

# Latched state (e-stop, task instruction, success): a subscriber that joins late still gets
# the last value (measured: 0.5 s after start it received [True] only).
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)

# Low-rate state others poll (diagnostics, privileged sim objects): reliable, newest only.
STATE = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)
