"""ChunkExecutor cost: command() and submit() of the cubic real-time-chunking executor, side by side
with the linear executor it replaced (interpolation="linear": the same code as before).

Workload (the same for both, interleaved in rounds so other load on the machine hits both alike):
the sim arm's RobotSpec, a 50 Hz command stream, a 16 x 7 chunk every 0.4 s arriving 40 ms after
its observation (the bundled VLA's timing), each chunk a smooth random motion offset a little
from the last (as a policy replans). Reports p50/p99/mean microseconds per call and the ratios
cubic / linear.

    .venv/bin/python benchmarks/control/bench_executor.py --json benchmarks/control/results-executor-dev-2core.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from roboalign.control.executor import ChunkExecutor
from roboalign.core.action import ActionChunk
from roboalign.sim.arm import sim_robot_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: report.py
from report import emit, machine

MODES = ("linear", "cubic")


def workload(seconds: float, seed: int = 0) -> list[tuple[float, ActionChunk]]:
    """(arrival time, chunk) for `seconds` of replanning."""
    rng = np.random.default_rng(seed)
    spec = sim_robot_spec()
    q = 0.5 * (spec.limits.lower + spec.limits.upper)
    out = []
    for k in range(int(seconds / 0.4)):
        start = 10.0 + 0.4 * k
        slope = rng.uniform(-0.4, 0.4, size=7)                     # rad/s
        actions = q + rng.normal(0.0, 0.005, size=7) + np.outer(0.1 * np.arange(16), slope)
        actions = np.clip(actions, spec.limits.lower + 0.05, spec.limits.upper - 0.05)
        out.append((start + 0.04, ActionChunk(actions, start, 0.1, observation_time=start)))
        q = actions[4]
    return out


def run_once(mode: str, chunks: list[tuple[float, ActionChunk]]) -> tuple[list[float], list[float]]:
    """Per-call seconds of command() and submit() over the whole workload."""
    ex = ChunkExecutor(sim_robot_spec(), interpolation=mode)
    ex.reset(chunks[0][1].actions[0])
    commands, submits = [], []
    t, i, end = chunks[0][0], 0, chunks[-1][0] + 1.0
    clock = time.perf_counter
    while t < end:
        while i < len(chunks) and chunks[i][0] <= t + 1e-9:
            t0 = clock()
            ex.submit(chunks[i][1], now=t)
            submits.append(clock() - t0)
            i += 1
        t0 = clock()
        ex.command(t)
        commands.append(clock() - t0)
        t += 0.02
    return commands, submits


def stats_us(samples: list[float]) -> dict:
    x = np.asarray(samples) * 1e6
    return {"n": int(x.size), "p50_us": round(float(np.percentile(x, 50)), 2),
            "p99_us": round(float(np.percentile(x, 99)), 2), "mean_us": round(float(x.mean()), 2),
            "max_us": round(float(x.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds of chunks per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    chunks = workload(args.seconds)
    collected = {m: ([], []) for m in MODES}
    run_once("cubic", chunks[:5])  # warm-up (imports, first allocations)
    for _ in range(args.rounds):
        for mode in MODES:
            c, s = run_once(mode, chunks)
            collected[mode][0].extend(c)
            collected[mode][1].extend(s)
    sides = {m: {"command": stats_us(c), "submit": stats_us(s)} for m, (c, s) in collected.items()}
    ratios = {f"{call}_{k}_cubic_vs_linear": round(sides["cubic"][call][k] / sides["linear"][call][k], 2)
              for call in ("command", "submit") for k in ("p50_us", "p99_us", "mean_us")}
    result = {
        "what": "ChunkExecutor per-call cost, sim arm spec, 50 Hz commands, 16x7 chunk every 0.4 s arriving 40 ms late",
        "baseline": "linear (the executor before real-time chunking)",
        "sides": sides, "ratios": ratios,
        "budget": "command() well under a 2 ms tick at 500 Hz; submit() once per chunk",
        "machine": machine(),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
