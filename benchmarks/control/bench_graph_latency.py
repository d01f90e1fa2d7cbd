"""Observation -> command latency through the real rollout graph (sim, policy, executor and safety
nodes in rclpy, the policy served by `roboalign serve` in its own process), with the executor in
its cubic real-time-chunking mode and, as the baseline, in the linear mode it replaced.

For every chunk the executor accepts (its observation time = the chunk's start_time, ROS time):
- observation -> chunk at the executor: the inference delay the executor measures (its arrival);
- observation -> first command of that chunk: the first control tick at or after its arrival,
  where the executor's command starts to follow it (cubic: its blend starts there; linear: its
  cross-fade);
- observation -> arm: when that tick's safe command (/arm/command, which keeps the tick's
  stamp) reaches a subscriber in the graph's process, i.e. where the arm driver would get it.
p50/p99/mean in ms, per mode, and the ratios cubic / linear. Short: a few episodes per mode.

    MUJOCO_GL=egl ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python \\
        benchmarks/control/bench_graph_latency.py --json benchmarks/control/results-graph-latency-dev-2core.json
"""
import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from roboalign.serving.process import ServerProcess
from roboalign_ros import qos
from roboalign_ros.conversions import node_now, stamp_to_seconds
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner
from roboalign_ros.sim_episodes import SimEpisodes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: report.py
from report import emit, machine

MODES = ("linear", "cubic")


class Tap:
    """Records what the executor node accepts and what reaches /arm/command (receipt, stamp)."""

    def __init__(self, runner: GraphRunner) -> None:
        self.accepted: list[tuple[float, float, float]] = []   # (observation, arrival, join) s
        self.arm: list[tuple[float, float]] = []               # (stamp, receipt) s of /arm/command
        executor = runner.node("executor")
        chunks = executor.chunks
        submit = chunks.submit

        def tapped(chunk, now=None):
            result = submit(chunk, now)
            if result.accepted and now is not None:
                self.accepted.append((chunk.start_time, now, max(now, chunk.start_time)))
            return result

        chunks.submit = tapped
        self.node = Node("latency_tap", context=runner.context)
        self.node.create_subscription(JointTrajectory, "/arm/command", self._on_arm, qos.COMMAND)
        self.spin = SingleThreadedExecutor(context=runner.context)
        self.spin.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_arm(self, msg: JointTrajectory) -> None:
        self.arm.append((stamp_to_seconds(msg.header.stamp), node_now(self.node)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.spin.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.spin.shutdown(timeout_sec=1.0)
        self.node.destroy_node()

    def latencies_ms(self) -> dict[str, list[float]]:
        stamps = np.array([s for s, _ in self.arm])
        out: dict[str, list[float]] = {"observation->chunk at executor": [], "observation->first command": [],
                                       "observation->arm": []}
        for observed, arrival, join in self.accepted:
            out["observation->chunk at executor"].append((arrival - observed) * 1e3)
            later = np.flatnonzero(stamps >= join - 1e-6)
            if later.size:
                stamp, receipt = self.arm[int(later[0])]
                out["observation->first command"].append((stamp - observed) * 1e3)
                out["observation->arm"].append((receipt - observed) * 1e3)
        return out


def pct(samples: list[float]) -> dict:
    x = np.asarray(samples)
    if not x.size:
        return {"n": 0}
    return {"n": int(x.size), "p50": round(float(np.percentile(x, 50)), 2), "p99": round(float(np.percentile(x, 99)), 2),
            "mean": round(float(x.mean()), 2)}


def run_mode(mode: str, endpoint: str, episodes: int, seed: int, domain_id: int) -> dict:
    overrides = {"policy": {"endpoint": endpoint}, "executor": {"interpolation": mode}}
    with GraphRunner(load_graph(), overrides=overrides, domain_id=domain_id, log_level="warn") as runner:
        sim = SimEpisodes(runner)
        sim.wait_ready()
        tap = Tap(runner)
        try:
            outcomes = [sim.run(seed + i) for i in range(episodes)]
            time.sleep(0.2)
        finally:
            tap.close()
        lat = tap.latencies_ms()
    safety = {k: sum(o.safety.get(k, 0) for o in outcomes) for k in ("ok", "limited", "hold")}
    return {"episodes": episodes, "successes": sum(o.success for o in outcomes), "safety": safety,
            "latency_ms": {k: pct(v) for k, v in lat.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="expert")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=10000)
    parser.add_argument("--domain-id", type=int, default=100 + os.getpid() % 100)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    with ServerProcess(policy=args.policy) as server:
        modes = {mode: run_mode(mode, server.endpoint, args.episodes, args.seed, args.domain_id) for mode in MODES}
    ratios = {}
    for stage in modes["cubic"]["latency_ms"]:
        a, b = modes["cubic"]["latency_ms"][stage], modes["linear"]["latency_ms"][stage]
        if a.get("n") and b.get("n"):
            ratios[f"{stage} p50 cubic/linear"] = round(a["p50"] / b["p50"], 2)
    out = {"what": "observation -> command latency through the rollout graph (rclpy, sim behind it)",
           "policy": args.policy, "baseline": "executor interpolation=linear (joins a chunk at its arrival)",
           "modes": modes, "ratios": ratios,
           "machine": machine()}
    emit(out, args.json)


if __name__ == "__main__":
    main()
