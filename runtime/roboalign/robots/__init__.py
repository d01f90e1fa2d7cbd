"""robots: arms as the runtime sees them without ROS: robot specs, kinematics, and how a safe
joint command is split and stamped for an arm driver's controllers (controller.py)."""
