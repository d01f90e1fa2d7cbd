"""roboalign_ros: thin rclpy nodes over the `roboalign` runtime (sim arm, policy client, chunk
executor, safety filter) and an in-process runner for the node graph defined in
launch/config/*.yaml. Modules import rclpy; import them only where ROS 2 is installed."""
