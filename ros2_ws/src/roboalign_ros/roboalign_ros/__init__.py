"""roboalign_ros: thin rclpy nodes over the `roboalign` runtime (sim arm, policy client, chunk
executor, safety filter), an in-process runner for the node graph defined in config/*.yaml of
this package, and the `roboalign rollout` command (entry point `roboalign.commands`). Modules
import rclpy unless they say otherwise (graph, rollout_cli, rollout_summary); import them only
where ROS 2 is installed."""
