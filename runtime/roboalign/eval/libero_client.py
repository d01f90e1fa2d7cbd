"""LIBERO evaluation client: LIBERO's simulator here, the policy behind the inference server.

Runs in .venv-libero (`make libero-env`: robosuite 1.4.0, mujoco 2.3.7, numpy 1.26), started by
`roboalign eval libero` or directly:

    .venv-libero/bin/python -m roboalign.eval.libero_client --server tcp://127.0.0.1:5555 \\
        --suite libero_spatial --tasks 0 1 --episodes-per-task 2 --out outputs/libero

Imports numpy, pyzmq, msgpack and pyyaml (roboalign.serving.client and roboalign.core), never
torch, scipy or the project's simulator; LIBERO is imported only inside the functions that run it.
The protocol (roboalign.policy.libero_spec) is openpi's: one env per task, seeded once; each
episode resets, sets the task's init state, waits NUM_STEPS_WAIT steps with the dummy action,
then asks the server for a chunk every `replan_steps` steps until the task succeeds or
SUITE_MAX_STEPS[suite] policy steps have run. Results: OUT/<suite>.json, rewritten after every
episode, so an interrupted run keeps what it finished.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.policy import libero_spec as spec


@dataclasses.dataclass
class EpisodeResult:
    task_id: int
    init_state: int
    success: bool
    steps: int          # policy steps run (the wait steps excluded)
    seconds: float      # wall time of the episode: reset + wait + policy steps
    reset_s: float      # env.reset + set_init_state
    sim_s: float        # env.step, all steps, rendering included
    policy_s: float     # server round trips (the client side of each call)
    server_infer_s: float  # the policy call on the server (reply timing.infer_ms)
    policy_calls: int
    cpu_s: float        # this process's CPU time (all threads: llvmpipe renders on several)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_env(suite_name: str, task_id: int, seed: int):
    """(env, task, init_states) of one LIBERO task, rendering both cameras at RENDER_SIZE."""
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs import OffScreenRenderEnv

    with contextlib.redirect_stdout(sys.stderr):  # "[info] Applying task order index 0" on stdout
        suite = benchmark.get_benchmark_dict()[suite_name]()
    task = suite.get_task(task_id)
    init_states = suite.get_task_init_states(task_id)
    bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
    env = OffScreenRenderEnv(bddl_file_name=bddl, camera_heights=spec.RENDER_SIZE, camera_widths=spec.RENDER_SIZE)
    env.seed(seed)  # once per env: drives the fixtures' placement at each reset (openpi)
    return env, task, init_states


def run_episode(env, client, instruction: str, init_state: np.ndarray, max_steps: int,
                replan_steps: int, task_id: int = 0, init_index: int = 0) -> EpisodeResult:
    """One episode against the server; client is a roboalign.serving.client.PolicyClient."""
    from roboalign.core.observation import Observation

    t0, cpu0 = time.perf_counter(), time.process_time()
    env.reset()
    obs = env.set_init_state(init_state)
    client.reset()
    reset_s = time.perf_counter() - t0
    sim_s = policy_s = server_s = 0.0
    calls = steps = 0
    plan: list[np.ndarray] = []
    success = False
    for t in range(max_steps + spec.NUM_STEPS_WAIT):
        if t < spec.NUM_STEPS_WAIT:  # objects are still falling into place
            action = np.asarray(spec.DUMMY_ACTION)
        else:
            if not plan:
                images, state = spec.policy_inputs(obs)
                t1 = time.perf_counter()
                chunk = client.infer(Observation(images=images, joint_positions=state, instruction=instruction,
                                                 timestamp=time.time()))
                policy_s += time.perf_counter() - t1
                server_s += float(client.last_timing.get("infer_ms", 0.0)) / 1000.0
                calls += 1
                if chunk.actions.ndim != 2 or chunk.actions.shape[1] != spec.ACTION_DIM:
                    raise RuntimeError(f"the server returned actions of shape {list(chunk.actions.shape)}; LIBERO "
                                       f"takes [H, {spec.ACTION_DIM}] (is it serving a libero_adapter policy?)")
                plan = list(chunk.actions[:replan_steps])
            action = plan.pop(0)
            steps += 1
        t2 = time.perf_counter()
        obs, _reward, done, _info = env.step(action.tolist())  # robosuite 1.4: 4 values
        sim_s += time.perf_counter() - t2
        if done:  # == env.check_success()
            success = True
            break
    return EpisodeResult(task_id=task_id, init_state=init_index, success=success, steps=steps,
                         seconds=round(time.perf_counter() - t0, 3), reset_s=round(reset_s, 3),
                         sim_s=round(sim_s, 3), policy_s=round(policy_s, 3), server_infer_s=round(server_s, 3),
                         policy_calls=calls, cpu_s=round(time.process_time() - cpu0, 3))


def episode_limit(args: argparse.Namespace, suite: str) -> int:
    limit = spec.SUITE_MAX_STEPS[suite]
    return limit if args.max_steps is None else min(limit, args.max_steps)


def summarize(suite: str, episodes: Sequence[EpisodeResult], meta: dict[str, Any], args: argparse.Namespace,
              tasks: dict[int, str]) -> dict[str, Any]:
    per_task = []
    for task_id, language in tasks.items():
        mine = [e for e in episodes if e.task_id == task_id]
        if mine:
            per_task.append({"task_id": task_id, "instruction": language, "episodes": len(mine),
                             "successes": sum(e.success for e in mine),
                             "success_rate": sum(e.success for e in mine) / len(mine)})
    steps = sum(e.steps for e in episodes)
    sim_steps = steps + spec.NUM_STEPS_WAIT * len(episodes)
    n = max(len(episodes), 1)
    return {
        "suite": suite, "server": args.server, "model_id": meta.get("model_id"), "policy": meta.get("policy"),
        "trained_on_libero": meta.get("details", {}).get("trained_on_libero"),
        "protocol": {"max_steps": episode_limit(args, suite), "standard_max_steps": spec.SUITE_MAX_STEPS[suite],
                     "num_steps_wait": spec.NUM_STEPS_WAIT,
                     "render_size": spec.RENDER_SIZE, "image_size": spec.IMAGE_SIZE,
                     "replan_steps": args.replan_steps, "seed": args.seed, "state": spec.STATE_LAYOUT},
        "episodes": len(episodes), "successes": sum(e.success for e in episodes),
        "success_rate": sum(e.success for e in episodes) / n,
        "per_task": per_task,
        "timing": {
            "seconds_per_episode": round(sum(e.seconds for e in episodes) / n, 3),
            "sim_s_per_step": round(sum(e.sim_s for e in episodes) / max(sim_steps, 1), 4),
            "policy_s_per_call": round(sum(e.policy_s for e in episodes) / max(sum(e.policy_calls for e in episodes), 1), 4),
            "policy_s_per_step": round(sum(e.policy_s for e in episodes) / max(steps, 1), 4),
            "server_infer_s_per_call": round(sum(e.server_infer_s for e in episodes)
                                             / max(sum(e.policy_calls for e in episodes), 1), 4),
            "reset_s_per_episode": round(sum(e.reset_s for e in episodes) / n, 3),
            "cpu_s_per_step": round(sum(e.cpu_s for e in episodes) / max(sim_steps, 1), 4),
            "env_build_s": round(getattr(args, "env_build_s", 0.0), 3),
        },
        "per_episode": [dataclasses.asdict(e) for e in episodes],
    }


def run_suite(args: argparse.Namespace, suite: str, client, meta: dict[str, Any]) -> dict[str, Any]:
    out = args.out / f"{suite}.json"
    episodes: list[EpisodeResult] = []
    tasks: dict[int, str] = {}
    args.env_build_s = 0.0
    for task_id in args.tasks:
        t0 = time.perf_counter()
        env, task, init_states = make_env(suite, task_id, args.seed)
        args.env_build_s += time.perf_counter() - t0
        tasks[task_id] = task.language
        try:
            for k in range(args.episodes_per_task):
                result = run_episode(env, client, task.language, init_states[k], episode_limit(args, suite),
                                     args.replan_steps, task_id=task_id, init_index=k)
                episodes.append(result)
                print(f"{suite} task {task_id} init {k}: {'success' if result.success else 'failed '} after "
                      f"{result.steps} steps in {result.seconds:.1f} s (sim {result.sim_s:.1f} s, policy "
                      f"{result.policy_s:.1f} s)  {task.language!r}", flush=True)
                out.write_text(json.dumps(summarize(suite, episodes, meta, args, tasks), indent=2))
        finally:
            env.close()
    summary = summarize(suite, episodes, meta, args, tasks)
    out.write_text(json.dumps(summary, indent=2))
    return summary


def warm_up() -> int:
    """Compile robosuite's numba kernels into their cache (the first env.step takes ~6 s once)."""
    env, _task, init_states = make_env("libero_spatial", 0, spec.DEFAULT_SEED)
    try:
        t0 = time.perf_counter()
        env.reset()
        env.set_init_state(init_states[0])
        env.step(list(spec.DUMMY_ACTION))
        print(f"LIBERO ready: reset + first step in {time.perf_counter() - t0:.1f} s (numba kernels cached)")
    finally:
        env.close()
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="libero_client", description=__doc__.splitlines()[0])
    p.add_argument("--server", help="the inference server, tcp://127.0.0.1:PORT or ipc://PATH")
    p.add_argument("--suite", action="append", choices=spec.SUITES, help="suite (repeatable; default all four)")
    p.add_argument("--tasks", type=int, nargs="+", default=list(range(spec.TASKS_PER_SUITE)),
                   help=f"task ids 0..{spec.TASKS_PER_SUITE - 1} (default all)")
    p.add_argument("--episodes-per-task", type=int, default=spec.INIT_STATES_PER_TASK,
                   help=f"init states 0..N-1 of each task (1..{spec.INIT_STATES_PER_TASK}, default all)")
    p.add_argument("--replan-steps", type=int, default=spec.DEFAULT_REPLAN_STEPS,
                   help=f"actions executed from each chunk before asking again (default {spec.DEFAULT_REPLAN_STEPS})")
    p.add_argument("--seed", type=int, default=spec.DEFAULT_SEED, help=f"env seed (default {spec.DEFAULT_SEED})")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cut every episode after this many policy steps (smoke tests; default: the suite's "
                        "protocol limit, libero_spec.SUITE_MAX_STEPS)")
    p.add_argument("--timeout-s", type=float, default=30.0, help="deadline of one server call (s)")
    p.add_argument("--out", type=Path, default=Path("outputs/libero"), help="folder for <suite>.json")
    p.add_argument("--warm-up", action="store_true", help="only compile robosuite's numba cache, then exit")
    args = p.parse_args(argv)
    if args.warm_up:
        return args
    if not args.server:
        p.error("--server is required")
    if not all(0 <= t < spec.TASKS_PER_SUITE for t in args.tasks):
        p.error(f"--tasks: ids are 0..{spec.TASKS_PER_SUITE - 1}")
    if not 1 <= args.episodes_per_task <= spec.INIT_STATES_PER_TASK:
        p.error(f"--episodes-per-task: 1..{spec.INIT_STATES_PER_TASK}")
    if args.max_steps is not None and args.max_steps < 1:
        p.error("--max-steps: at least 1")
    if args.replan_steps < 1:
        p.error("--replan-steps: at least 1")
    args.suite = args.suite or list(spec.SUITES)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # before robosuite: it would force egl anyway
    args = parse_args(argv)
    if args.warm_up:
        return warm_up()
    from roboalign.serving.client import PolicyClient

    args.out.mkdir(parents=True, exist_ok=True)
    with PolicyClient(args.server, timeout_s=args.timeout_s) as client:
        client.wait_until_ready(timeout_s=args.timeout_s)
        meta = client.metadata()
        if meta.get("action_dim") != spec.ACTION_DIM:
            _log(f"the server at {args.server} serves {meta.get('policy')!r} with action_dim "
                 f"{meta.get('action_dim')}; LIBERO needs {spec.ACTION_DIM} (serve a libero_adapter policy)")
            return 2
        if not meta.get("details", {}).get("trained_on_libero", True):
            _log(f"note: {meta.get('model_id')!r} was not trained on LIBERO data; expect 0 % success "
                 "(this run measures the wire path and the timings)")
        summaries = {suite: run_suite(args, suite, client, meta) for suite in args.suite}
    print(json.dumps({s: {k: v[k] for k in ("episodes", "successes", "success_rate", "timing")}
                      for s, v in summaries.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
