"""Safety filter cost per 7-joint command: the current SafetyFilter (plain floats) side by side
with the previous numpy implementation (tests/control/safety_reference.py), and the extra cost of
the Cartesian workspace check through forward kinematics.

Streams (50 Hz timestamps, 7 joints, seeded):
- random: a fresh uniform-random target in the position band every call (the issue's case:
  the filter limits velocity/acceleration on nearly every call);
- smooth: a slow sinusoid well inside every limit (the filter passes it unchanged).
Workspace cases (new filter only; the previous one had no workspace):
- sim arm (6 joints + gripper, MuJoCo mj_kinematics of the tcp site) and FR3 (7 joints,
  pinocchio DH chain): the tool point kept inside a box and above a table plane. "inside": the
  random targets stay in the workspace (one or two FK calls per command); "clamping": targets
  roam the joint band, so many leave the workspace and are cut back by bisection.

Per case: p50, p99 and mean microseconds per filter() call, from the run (of --repeats) with
the lowest median, and the previous/current ratio of medians (the median resists other jobs on
a shared machine; the mean and p99 do not). One process, pinned to one CPU when possible.

    MUJOCO_GL=egl .venv/bin/python benchmarks/control/bench_safety.py --json benchmarks/control/results.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "control"))  # the frozen baseline and the 7-joint test spec

from control_spec import HOME, make_spec  # noqa: E402
from safety_reference import ReferenceSafetyFilter  # noqa: E402

from roboalign.control.safety import SafetyConfig, SafetyFilter  # noqa: E402
from roboalign.core.robot import RobotSpec  # noqa: E402
from roboalign.errors import RoboAlignError  # noqa: E402
from roboalign.robots import kinematics_for  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402


def per_call_us(make_filter, q0: np.ndarray, commands: np.ndarray, repeats: int) -> dict:
    samples = None
    best = float("inf")
    for _ in range(repeats):
        f = make_filter()
        f.initialize(q0)
        times = np.empty(len(commands))
        t = 0.0
        clock = time.perf_counter
        for i, c in enumerate(commands):
            t += 0.02
            t0 = clock()
            f.filter(c, t)
            times[i] = clock() - t0
        median = float(np.median(times))
        if median < best:
            best, samples = median, times
    counts = {k: v for k, v in f.counts.items() if v}
    return {"p50_us": round(best * 1e6, 2), "p99_us": round(float(np.percentile(samples, 99)) * 1e6, 2),
            "mean_us": round(float(samples.mean()) * 1e6, 2), "states": counts}


def streams(spec: RobotSpec, home: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = spec.limits.lower + 0.02, spec.limits.upper - 0.02
    random = rng.uniform(lo, hi, (n, spec.dof))
    k = np.arange(n)[:, None]
    smooth = np.clip(home + 0.2 * np.sin(0.02 * k * rng.uniform(0.5, 1.5, spec.dof)), lo, hi)
    return {"random": random, "smooth": smooth}


def bench_without_workspace(n: int, repeats: int) -> dict:
    spec = make_spec()
    out = {}
    for name, commands in streams(spec, HOME, n, 0).items():
        old = per_call_us(lambda: ReferenceSafetyFilter(spec, SafetyConfig()), HOME, commands, repeats)
        new = per_call_us(lambda: SafetyFilter(spec, SafetyConfig()), HOME, commands, repeats)
        out[name] = {"previous": old, "current": new, "ratio_previous_over_current": round(old["p50_us"] / new["p50_us"], 2)}
    return out


def bench_workspace(spec: RobotSpec, home: np.ndarray, kin, box_half: float, n: int, repeats: int) -> dict:
    """Box of +-box_half m around the home tool point, table box_half below it."""
    p = np.array(kin.tool_position(home[[spec.joint_names.index(j) for j in kin.joint_names]]))
    config = SafetyConfig(workspace_min=(p - box_half).tolist(), workspace_max=(p + box_half).tolist(),
                          table_height=float(p[2] - 0.5 * box_half))
    rng = np.random.default_rng(1)
    lo, hi = spec.limits.lower + 0.02, spec.limits.upper - 0.02
    arm = [spec.joint_names.index(j) for j in kin.joint_names]
    inside = []
    while len(inside) < n:  # random targets near home whose tool point is inside the workspace
        q = np.clip(home + rng.uniform(-0.15, 0.15, spec.dof), lo, hi)
        x, y, z = kin.tool_position(q[arm])
        if np.all(np.abs(np.array([x, y, z]) - p) < box_half) and z > p[2] - 0.5 * box_half:
            inside.append(q)
    roaming = np.clip(home + rng.uniform(-0.6, 0.6, (n, spec.dof)), lo, hi)
    out = {}
    for name, commands in (("inside", np.array(inside)), ("clamping", roaming)):
        off = per_call_us(lambda: SafetyFilter(spec, SafetyConfig()), home, commands, repeats)
        on = per_call_us(lambda: SafetyFilter(spec, config, kin), home, commands, repeats)
        out[name] = {"without_workspace": off, "with_workspace": on,
                     "workspace_cost_p50_us": round(on["p50_us"] - off["p50_us"], 2)}
    joints = [c[arm].tolist() for c in roaming]
    t0 = time.perf_counter()
    for q in joints:
        kin.tool_position(q)
    out["fk_call_us"] = round((time.perf_counter() - t0) / len(joints) * 1e6, 2)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="filter() calls per stream")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    result = {
        "benchmark": "safety filter cost per command",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores_visible": os.cpu_count(), "numpy": np.__version__},
        "calls_per_stream": args.calls,
        "seven_joints": bench_without_workspace(args.calls, args.repeats),
    }
    sim = sim_robot_spec()
    result["workspace_sim_arm_mujoco_fk"] = bench_workspace(sim, np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0, 0.0]),
                                                            kinematics_for(sim), 0.08, args.calls, args.repeats)
    try:
        fr3 = RobotSpec.load(ROOT / "configs" / "robots" / "fr3.yaml")
        ready = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
        result["workspace_fr3_pinocchio_fk"] = bench_workspace(fr3, ready, kinematics_for(fr3, (0, 0, 0.1034)),
                                                               0.1, args.calls, args.repeats)
    except RoboAlignError as exc:  # pinocchio (the kinematics extra) is not installed
        result["workspace_fr3_pinocchio_fk"] = f"skipped: {exc}"
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
