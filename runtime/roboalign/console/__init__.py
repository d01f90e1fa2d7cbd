"""The operator console of a recording session: a terminal UI (textual) that shows the
recorder's state, the instruction, e-stop and safety state and stream health, and turns keys
into commands. No ROS here: it reads a plain status dict and calls plain callbacks; the ROS
bridge (roboalign_ros.console_bridge) feeds the one and implements the others."""
