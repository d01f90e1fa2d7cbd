"""Cameras behind core.Camera (read semantics: core/camera.py; how to use them: docs/cameras.md).

streaming.py    the background reader every driver shares: freshest frame, staleness, drops,
                reconnects after a device loss
clock.py        device frame stamps mapped onto the host clock (minimum-delay filter)
realsense.py    Intel RealSense through pyrealsense2 (colour + aligned depth, intrinsics,
                recordings played back); realsense_software.py: librealsense's software device
opencv.py       UVC webcams (V4L2), video files and streams through OpenCV
replay.py       a recorded roboalign episode played as a live camera
sim.py          the sim arm's MuJoCo cameras
sources.py      one string names any of them ("realsense:SERIAL", "/dev/video0", ...)
"""
