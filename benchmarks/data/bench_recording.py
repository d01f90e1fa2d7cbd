"""What recording costs: writer CPU per second of data, file size, read-back time.

    python benchmarks/data/bench_recording.py --seconds 10 --camera 640x480 --camera-hz 30 --joints-hz 100

Synthesises a demonstration (one rgb8 camera of a smooth moving gradient plus sensor noise, joint
states and single-point commands) and writes it through roboalign.data.recording.EpisodeWriter
exactly as the recorder node does (CDR bytes, zstd chunks, chunk close + fsync every
--flush-period s), then loads it back with load_recording at 10 Hz. Reported: writer CPU time
per recorded second (the recorder node's share of a core), MB per recorded minute and per frame,
and load time. No ROS needed; the CDR is encoded beforehand (a subscription hands over bytes).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ (scripts, not a package)
from report import emit, machine

from roboalign.data.recording import IMAGE, JOINT_STATE, JOINT_TRAJECTORY, EpisodeWriter, RecordingMetadata
from roboalign.data.recording_reader import load_recording

NAMES = [f"joint{i}" for i in range(1, 7)] + ["gripper"]


def header(ns: int) -> dict:
    return {"stamp": {"sec": ns // 10**9, "nanosec": ns % 10**9}, "frame_id": ""}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--camera", default="640x480", help="WxH")
    p.add_argument("--camera-hz", type=float, default=30.0)
    p.add_argument("--joints-hz", type=float, default=100.0)
    p.add_argument("--flush-period", type=float, default=1.0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    from mcap_ros2._dynamic import serialize_dynamic

    from roboalign.data.ros_schemas import SCHEMAS

    enc = {s: serialize_dynamic(s, SCHEMAS[s])[s] for s in (IMAGE, JOINT_STATE, JOINT_TRAJECTORY)}
    w, h = (int(v) for v in args.camera.split("x"))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    t0 = time.time_ns()
    events = []  # (ns, schema, topic, cdr) in time order, encoded before timing
    n_frames = int(args.seconds * args.camera_hz)
    for k in range(n_frames):
        ns = t0 + int(k * 1e9 / args.camera_hz)
        base = ((xx + 3 * k) % 256)[..., None] * np.array([1.0, 0.6, 0.3]) + rng.normal(0, 4, (h, w, 3))
        px = np.clip(base, 0, 255).astype(np.uint8)
        msg = {"header": header(ns), "height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0, "step": 3 * w,
               "data": px.tobytes()}
        events.append((ns, IMAGE, "/camera/front/image_raw", enc[IMAGE](msg)))
    for k in range(int(args.seconds * args.joints_hz)):
        ns = t0 + int(k * 1e9 / args.joints_hz)
        q = np.sin(np.arange(7) + k * 0.01).tolist()
        events.append((ns, JOINT_STATE, "/joint_states", enc[JOINT_STATE](
            {"header": header(ns), "name": NAMES, "position": q, "velocity": q, "effort": []})))
        point = {"positions": q, "velocities": [], "accelerations": [], "effort": [], "time_from_start": {"sec": 0, "nanosec": 0}}
        events.append((ns, JOINT_TRAJECTORY, "/arm/command_raw", enc[JOINT_TRAJECTORY](
            {"header": header(ns), "joint_names": NAMES, "points": [point]})))
    events.sort(key=lambda e: e[0])
    raw_mb = sum(len(e[3]) for e in events) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        meta = RecordingMetadata(robot="bench", cameras=["front"], streams={
            "joints": "/joint_states", "actions": "/arm/command_raw", "cameras": {"front": "/camera/front/image_raw"}})
        cpu0, wall0 = time.process_time(), time.perf_counter()
        writer = EpisodeWriter.open(tmp, 0, meta, flush_period_s=args.flush_period)
        for ns, schema, topic, data in events:
            writer.write(topic, schema, data, ns, ns)
            writer.flush_if_due()
        path = writer.seal("success", end_ns=events[-1][0])
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        size_mb = path.stat().st_size / 1e6
        t = time.perf_counter()
        episode = load_recording(path)
        load_s = time.perf_counter() - t
    emit({
        "what": "EpisodeWriter: zstd MCAP chunks, CDR as delivered by subscriptions, fsync per flush period",
        "command": " ".join(sys.argv),
        "recorded_s": args.seconds, "camera": f"{w}x{h} rgb8 @ {args.camera_hz:g} Hz",
        "joints_and_commands_hz": args.joints_hz,
        "messages": len(events), "raw_mb": round(raw_mb, 2), "file_mb": round(size_mb, 2),
        "mb_per_minute": round(size_mb * 60 / args.seconds, 1),
        "writer_cpu_s_per_recorded_s": round(cpu / args.seconds, 3),
        "writer_wall_s_per_recorded_s": round(wall / args.seconds, 3),
        "load_recording_s": round(load_s, 2), "episode_steps_at_10hz": len(episode),
        "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
