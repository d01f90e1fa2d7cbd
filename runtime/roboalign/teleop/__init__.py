"""Teleoperation without ROS: input devices that yield targets, and the controller that turns
them into joint targets for the safety filter.

    source (keyboard | gamepad | spacemouse | leader)  ->  TeleopInput (a twist or joint targets,
        stamped with the last moment the operator was seen commanding)
    TeleopController.step(input, measured q, now)       ->  joint target [D] (rad; gripper units)
        deadman: input older than deadman_s -> zero twist -> hold
        twist -> joints: damped least squares on a pinocchio model (DifferentialIK)
        joint targets (leader arm): mapped by name, offset and scale
        then clamped: position limits with a margin, joint velocity and acceleration

The teleop node (roboalign_ros.teleop_node) publishes the result where the policy's executor
does (/arm/command_raw), so every teleop command passes the same safety node.
"""
