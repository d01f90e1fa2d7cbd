"""Teleop figures: differential-IK cost, key -> command latency and stop time through the graph.

    PYTHONPATH=runtime:ros2_ws/src/roboalign_ros MUJOCO_GL=egl ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
      .venv/bin/python benchmarks/teleop/bench_teleop.py [--trials 5] [--json out.json]

1. IK: TeleopController.step (pinocchio DLS with limits, the teleop path) and DifferentialIK.velocity
   alone, µs per call on the sim arm; baseline: the same DLS solve on MuJoCo's site Jacobian
   (roboalign.sim.kinematics.ArmKinematics, what the scripted expert uses).
2. Graph (config/teleop_sim.yaml: sim + teleop + safety in real rclpy, keys on /teleop/keys as the
   console sends them): per trial, keys held 1 s at a terminal's repeat rate (30 ms), then none.
   key -> /arm/command_raw: the first key's publish to the first teleop command that moves;
   key -> /arm/command: to the safety node's first moving output (arrival times at a probe);
   the last key to the last teleop command that still moves (the deadman, 0.3 s in that graph,
   plus braking), and to the last joint-state sample with any joint faster than 0.05 rad/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "ros"))
from report import emit, machine  # noqa: E402


def percentiles(values_us: list[float]) -> dict[str, float]:
    a = np.asarray(values_us)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p99": round(float(np.percentile(a, 99)), 1),
            "per_s": round(1e6 / float(np.mean(a)))}


def bench_ik(n: int = 3000) -> dict:
    from roboalign.sim.arm import sim_robot_spec
    from roboalign.sim.kinematics import ArmKinematics
    from roboalign.teleop.config import ControllerConfig
    from roboalign.teleop.controller import build_controller
    from roboalign.teleop.input import TeleopInput, Twist

    spec = sim_robot_spec()
    controller = build_controller(spec, ControllerConfig())
    mj = ArmKinematics()
    q = np.array([0.0, 0.5, 1.2, 0.0, 1.0, 0.0])
    xi = np.array([0.05, 0.0, 0.02, 0.0, 0.0, 0.1])
    inp = TeleopInput(twist=Twist([0.5, 0, 0.2], [0, 0, 0.2]), stamp=0.0)
    measured = np.concatenate([q, [0.0]])
    out = {}
    for name, call in (
        ("controller_step_pinocchio", lambda: controller.step(inp, measured, 0.0, 0.02)),
        ("dls_velocity_pinocchio", lambda: controller.ik.velocity(q, xi, 0.02)),
        ("dls_velocity_mujoco_jacobian_baseline",
         lambda: (lambda J: J.T @ np.linalg.solve(J @ J.T + 0.02**2 * np.eye(6), xi))(mj.jacobian(q))),
    ):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e6)
        out[name] = percentiles(times[n // 10:])
    return out


def bench_graph(trials: int) -> dict:
    from ros_probe import Probe
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from roboalign_ros import qos
    from roboalign_ros.conversions import command_from_trajectory
    from roboalign_ros.graph import load_graph, share_dir
    from roboalign_ros.runner import GraphRunner

    graph = load_graph(share_dir() / "config" / "teleop_sim.yaml")
    sim = {"cameras": ["front"], "camera_rate_hz": 0.5, "objects_rate_hz": 1.0}
    lat_raw, lat_safe, stops, command_stops = [], [], [], []
    with GraphRunner(graph, domain_id=200, overrides={"sim": sim}) as runner:
        probe = Probe(runner.context)
        arm, raw, safe = [], [], []
        probe.node.create_subscription(JointState, "/joint_states",
                                       lambda m: arm.append((time.monotonic(), np.array(m.position), np.array(m.velocity))), qos.SENSOR)
        probe.node.create_subscription(JointTrajectory, "/arm/command_raw", lambda m: raw.append((time.monotonic(), m)), qos.COMMAND)
        probe.node.create_subscription(JointTrajectory, "/arm/command", lambda m: safe.append((time.monotonic(), m)), qos.COMMAND)
        keys = probe.publisher(String, "/teleop/keys", qos.COMMAND)
        safety = runner.node("safety")
        names = safety.spec.joint_names
        probe.spin_until(lambda: safety.filter.output is not None and len(raw) > 5 and keys.get_subscription_count() > 0, 20.0)
        for trial in range(trials):
            probe.spin_for(0.3)
            i_raw, i_safe = len(raw), len(safe)
            text = "iu" if trial % 2 == 0 else "ko"   # forward+up, then back+down: stays in reach
            sent = []
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                keys.publish(String(data=text))
                sent.append(time.monotonic())
                probe.spin_for(0.03)
            probe.spin_for(1.0)

            def first_change(box, start, sent=sent):
                """Arrival time of the first message after the first key whose target differs from the one before."""
                msgs = box[start - 1:]
                for (_, before), (t, m) in zip(msgs, msgs[1:]):
                    change = np.abs(command_from_trajectory(m, names) - command_from_trajectory(before, names)).max()
                    if t >= sent[0] and change > 1e-9:
                        return t
                raise AssertionError("no command moved")

            lat_raw.append((first_change(raw, i_raw) - sent[0]) * 1e3)
            lat_safe.append((first_change(safe, i_safe) - sent[0]) * 1e3)
            moving_cmds = [t for (_, before), (t, m) in zip(raw[i_raw:], raw[i_raw + 1:])
                           if np.abs(command_from_trajectory(m, names) - command_from_trajectory(before, names)).max() > 1e-9]
            command_stops.append((max(moving_cmds) - sent[-1]) * 1e3)
            moving = [t for t, _, v in arm if t > sent[-1] and np.abs(v[:6]).max() > 0.05]
            stops.append(((moving[-1] if moving else sent[-1]) - sent[-1]) * 1e3)
        probe.close()

    def summary(values):
        return {"mean": round(float(np.mean(values)), 1), "max": round(float(np.max(values)), 1),
                "all": [round(v, 1) for v in values]}

    return {"trials": trials, "deadman_ms": 300, "key_to_command_raw_ms": summary(lat_raw),
            "key_to_safe_command_ms": summary(lat_safe),
            "last_moving_teleop_command_after_last_key_ms": summary(command_stops),
            "arm_still_after_last_key_ms": summary(stops)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    emit({"what": "teleop: IK cost (µs/call) and keyboard -> arm through the safety node",
          "ik_us": bench_ik(), "graph": bench_graph(args.trials), "machine": machine()}, args.json)


if __name__ == "__main__":
    main()
