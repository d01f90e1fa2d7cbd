"""Graphs of camera nodes (and the policy node) for the camera tests, built as data the way a
graph YAML declares them, plus a RealSense recording made with librealsense's software device."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from roboalign_ros.graph import GraphSpec, NodeSpec, load_graph

W, H, FPS = 64, 48, 30
T0_MS = 1.7e12  # global-time stamps (ms since the epoch), what a D4xx sends with global time on
COLOR = (60.0, 61.0, 31.5, 23.5)  # fx, fy, cx, cy of the recording's colour stream


def camera_spec(name: str = "camera_front", **params) -> NodeSpec:
    return NodeSpec(name=name, package="roboalign_ros", executable="camera_node",
                    node_class="roboalign_ros.camera_node:CameraNode", executor=name,
                    parameters={"camera_name": "front", "reconnect_interval": 0.1, "lost_after": 0.5,
                                "diagnostics_rate_hz": 10.0, **params})


def policy_spec(remappings: dict | None = None, **params) -> NodeSpec:
    base = load_graph().node("policy")
    return NodeSpec(name="policy", package=base.package, executable=base.executable, node_class=base.node_class,
                    executor="policy", parameters={**base.parameters, "simulation": False, "replan_period": 0.1,
                                                   "request_timeout": 0.5, "diagnostics_rate_hz": 10.0, **params},
                    remappings=remappings or {})


def graph(*nodes: NodeSpec) -> GraphSpec:
    return GraphSpec(name="cameras_test", nodes=tuple(nodes), fastdds_profile=load_graph().fastdds_profile)


def realsense_recording(path: Path, frames: int = 30) -> tuple[Path, list[float]]:
    """A .db3 of `frames` colour + depth pairs (colour value n, depth 1000 + n mm) stamped
    T0 + n/FPS; returns it and the stamps in seconds."""
    from roboalign.sensors.realsense_software import SoftwareRealSense, StreamModel, write_recording

    camera = SoftwareRealSense(W, H, FPS, color=StreamModel(*COLOR), serial="123622270882")
    stamps = [(T0_MS + n * 1000.0 / FPS) for n in range(frames)]
    pairs = [(np.full((H, W, 3), n, np.uint8), np.full((H, W), 1000 + n, np.uint16), t) for n, t in enumerate(stamps)]
    return write_recording(path, pairs, camera), [t / 1000.0 for t in stamps]


def video(path: Path, frames: int = 10, fps: int = 30) -> Path:
    """A small MJPG video (what an OpenCV camera source can play)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    for i in range(frames):
        writer.write(np.full((H, W, 3), 20 * i, np.uint8))
    writer.release()
    return path


def diagnostic(msg) -> tuple[int, str, dict[str, str]]:
    """(level, message, values) of a one-status DiagnosticArray."""
    status = msg.status[0]
    return int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else int(status.level), \
        status.message, {kv.key: kv.value for kv in status.values}
