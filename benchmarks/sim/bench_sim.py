"""Sim arm speed and scripted-expert success, with MuJoCo's bare loop as the baseline.

Measures, on one core (BLAS threads 1, process pinned to one CPU when possible):
- physics: mj_step in C (nstep loop, the ceiling) vs SimArm.step at the 50 Hz control rate
  (what rollouts pay: one success check per 20 ms); steps/s and their ratio;
- rendering: frames/s of one 128x128 camera, and of front+wrist together;
- ScriptedExpert.infer: p50/p99 ms over many observations (budget: 5 ms);
- closed-loop episodes (roboalign.sim.episodes.run_sim_episode: the control loop with its chunk
  executor and safety filter, no rendering): success rate and safety counts per family over
  --seeds seeds, mean simulated and wall seconds per episode, real-time factor;
- recording cost: one episode with front+wrist at 128x128 rendered at 10 Hz.

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim/bench_sim.py --seeds 50 --json benchmarks/sim/results.json
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from roboalign.sim.arm import SimArm  # noqa: E402  (sets MUJOCO_GL before mujoco loads)
from roboalign.sim.episodes import SAFETY_KEYS, run_sim_episode  # noqa: E402
from roboalign.sim.expert import ScriptedExpert  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: report.py
from report import emit, machine  # noqa: E402


def _best_rate(fn, n: int, repeats: int = 3) -> float:
    """Items per second, best of `repeats` (least disturbed by other jobs on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def bench_physics(arm: SimArm, seconds: float = 2.0) -> dict:
    arm.reset(0)
    n = int(seconds / arm.model.opt.timestep)
    raw = _best_rate(lambda: mujoco.mj_step(arm.model, arm.data, nstep=n), n)
    arm.reset(0)
    per_ctrl = int(round(arm.spec.control_period / arm.model.opt.timestep))
    wrapped = _best_rate(lambda: [arm.step(arm.spec.control_period) for _ in range(n // per_ctrl)], n)
    return {"mj_step_per_s": round(raw), "simarm_step_per_s": round(wrapped), "ratio_simarm_vs_mj_step": round(wrapped / raw, 3)}


def bench_render(size: int, frames: int = 100) -> dict:
    with SimArm(render_size=(size, size), cameras=("front", "wrist")) as arm:
        arm.reset(0)
        arm.render("front")  # context creation is not part of the rate
        one = _best_rate(lambda: [arm.render("front") for _ in range(frames)], frames)
        both = _best_rate(lambda: [arm.observation(0.0) for _ in range(frames // 2)], frames // 2)
    return {"size": size, "front_fps": round(one, 1), "front_plus_wrist_observations_per_s": round(both, 1)}


def bench_expert(n_obs: int = 200) -> dict:
    """ScriptedExpert.infer wall time, over the calls of closed-loop episodes (both families)."""
    expert = ScriptedExpert()
    times: list[float] = []
    with SimArm(cameras=()) as arm:
        seed = 0
        while len(times) < n_obs:
            r = run_sim_episode(arm, expert, seed, task="touch" if seed % 2 else "push", max_seconds=4.0,
                                stop_on_success=False)
            times.extend(r.loop.infer_ms)
            seed += 1
    ms = np.array(times[:n_obs])
    return {"calls": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3), "budget_ms": 5.0}


def bench_episodes(family: str, seeds: int, first_seed: int) -> dict:
    expert = ScriptedExpert()
    results = []
    with SimArm(cameras=(), task_family=family) as arm:
        for seed in range(first_seed, first_seed + seeds):
            results.append(run_sim_episode(arm, expert, seed, max_seconds=12.0))
    sim_s = np.array([r.duration for r in results])
    wall_s = np.array([r.loop.wall_s for r in results])
    return {
        "family": family,
        "episodes": seeds,
        "first_seed": first_seed,
        "successes": int(sum(r.success for r in results)),
        "success_rate": float(np.mean([r.success for r in results])),
        "failed_seeds": [r.seed for r in results if not r.success],
        "mean_episode_sim_s": round(float(sim_s.mean()), 3),
        "mean_episode_wall_s": round(float(wall_s.mean()), 4),
        "real_time_factor": round(float(sim_s.sum() / wall_s.sum()), 1),
        "mean_infer_ms": round(float(np.mean([r.loop.mean_infer_ms for r in results])), 3),
        "safety_interventions": {k: sum(r.loop.safety[k] for r in results) for k in SAFETY_KEYS},
        "max_safety_correction_rad": round(max(r.loop.max_correction_rad for r in results), 4),
    }


def bench_recording(size: int, seeds: int = 5) -> dict:
    expert = ScriptedExpert()
    with SimArm(render_size=(size, size), cameras=("front", "wrist")) as arm:
        arm.reset(0)
        arm.render("front")
        t0 = time.perf_counter()
        res = [run_sim_episode(arm, expert, s, max_seconds=12.0, record=True) for s in range(seeds)]
        wall = time.perf_counter() - t0
    frames = sum(len(r.episode) for r in res)
    return {"size": size, "episodes": seeds, "frames_per_camera": frames, "wall_s_per_episode": round(wall / seeds, 3),
            "successes": int(sum(r.success for r in res))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50, help="episodes per family")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--json", default=None, help="write results here")
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    out = {"machine": {**machine(), "mujoco": mujoco.__version__, "mujoco_gl": os.environ.get("MUJOCO_GL", "")}}
    with SimArm(cameras=()) as arm:
        out["physics"] = bench_physics(arm)
    out["render"] = bench_render(args.size)
    out["expert_infer"] = bench_expert()
    out["episodes"] = [bench_episodes(f, args.seeds, args.first_seed) for f in ("touch", "push")]
    out["recording"] = bench_recording(args.size)
    emit(out, args.json)


if __name__ == "__main__":
    main()
