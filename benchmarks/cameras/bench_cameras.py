"""The camera path, measured: RealSense frameset decoding (align depth to colour, copy out),
and capture -> subscriber latency through the camera node at 640x480, 30 Hz.

    python benchmarks/cameras/bench_cameras.py --out benchmarks/cameras/results-dev-2core.json

1. decode: librealsense's software device (recipes/realsense.md) feeds 640x480 colour + depth
   pairs (depth: a plane seen at an angle, every pixel valid) through an rs.syncer into roboalign.sensors.realsense.FramesetDecoder (rs.align to
   colour, depth in mm, RGB copied out of the frame pool): ms per frameset.
2. node: a 640x480 RealSense recording played at its recorded 30 Hz through the camera node
   (the real rs.pipeline path, stamps mapped onto ROS time) to a subscriber in the same
   process (the policy node's place), with the package's Fast DDS profile: delivered rate and
   (arrival - header.stamp), which is what the policy node's max_observation_age sees of a
   camera that delivers instantly. A real camera adds its exposure and USB transfer on top.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
W, H, FPS = 640, 480, 30


def decode_timing(pairs: int = 120) -> dict:
    from roboalign.sensors.realsense import FramesetDecoder
    from roboalign.sensors.realsense_software import SoftwareRealSense, StreamModel

    cam = SoftwareRealSense(W, H, FPS, color=StreamModel(600.0, 600.0, 320.0, 240.0),
                            depth=StreamModel(380.0, 380.0, 320.0, 240.0))
    sync = cam.start_syncer()
    decoder = FramesetDecoder()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    # a table seen at an angle: 600 mm at the top row to 1400 mm at the bottom (every pixel valid)
    depth = np.repeat(np.linspace(600, 1400, H, dtype=np.uint16)[:, None], W, axis=1)
    ms, colour_ms = [], []
    for n in range(pairs):
        cam.push(rgb, depth, n, 1.7e12 + n * 1000 / FPS)
        while (fs := sync.poll_for_frames()):
            if fs.size() == 2:
                t = time.perf_counter()
                decoder.decode(fs)
                ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                decoder.decode(fs, depth=False)  # what `depth: false` costs: colour copied out only
                colour_ms.append((time.perf_counter() - t) * 1000)
    cam.stop()
    return {"framesets": len(ms), "decode_align_ms_p50": float(np.percentile(ms, 50)),
            "decode_align_ms_p95": float(np.percentile(ms, 95)), "decode_align_ms_max": float(np.max(ms)),
            "decode_colour_only_ms_p50": float(np.percentile(colour_ms, 50))}


def node_latency(seconds: float = 6.0, domain_id: int = 77) -> dict:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from roboalign.sensors.realsense_software import SoftwareRealSense, StreamModel, write_recording
    from roboalign_ros import qos
    from roboalign_ros.conversions import stamp_to_seconds
    from roboalign_ros.graph import GraphSpec, NodeSpec, load_graph
    from roboalign_ros.runner import GraphRunner

    frames = int(seconds * FPS)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        cam = SoftwareRealSense(W, H, FPS, color=StreamModel(600.0, 600.0, 320.0, 240.0))
        path = write_recording(Path(tmp) / "bench.db3", [(rgb, np.full((H, W), 800, np.uint16), 1.7e12 + n * 1000 / FPS)
                                                         for n in range(frames)], cam)
        spec = NodeSpec(name="camera_front", package="roboalign_ros", executable="camera_node",
                        node_class="roboalign_ros.camera_node:CameraNode", executor="camera",
                        parameters={"camera_name": "front", "source": f"realsense-file:{path}", "width": W,
                                    "height": H, "fps": FPS, "depth": True, "autostart": False})
        graph = GraphSpec(name="bench", nodes=(spec,), fastdds_profile=load_graph().fastdds_profile)
        with GraphRunner(graph, domain_id=domain_id) as runner:
            node = Node("subscriber", context=runner.context)
            executor = SingleThreadedExecutor(context=runner.context)
            executor.add_node(node)
            lag = []
            node.create_subscription(Image, "/camera/front/image_raw", lambda m: lag.append(
                node.get_clock().now().nanoseconds * 1e-9 - stamp_to_seconds(m.header.stamp)), qos.SENSOR)
            camera = runner.node("camera_front")
            camera.trigger_configure()
            camera.trigger_activate()
            t0 = time.monotonic()
            while not camera.ended and time.monotonic() - t0 < seconds + 10:
                executor.spin_once(timeout_sec=0.01)
            wall = time.monotonic() - t0
            status = camera.camera.status() if camera.camera is not None else None
            executor.shutdown()
            node.destroy_node()
    lag_ms = np.array(lag) * 1000
    return {"frames_recorded": frames, "frames_received": len(lag), "received_hz": len(lag) / wall,
            "capture_to_subscriber_ms_p50": float(np.percentile(lag_ms, 50)),
            "capture_to_subscriber_ms_p99": float(np.percentile(lag_ms, 99)),
            "capture_to_subscriber_ms_max": float(lag_ms.max()),
            "published": camera.published, "skipped_by_publisher": camera.skipped,
            "device_dropped": None if status is None else status.dropped}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seconds", type=float, default=6.0)
    args = p.parse_args()
    import pyrealsense2 as rs

    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, pyrealsense2 {rs.__version__}",
              "image": [W, H], "fps": FPS, "decode": decode_timing(), "node": node_latency(args.seconds)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
