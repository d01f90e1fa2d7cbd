"""Camera drivers behind core.Camera: sim.py (the sim arm's MuJoCo cameras) today; RealSense,
OpenCV (UVC) and replay drivers belong here too (DESIGN.md's layout)."""
