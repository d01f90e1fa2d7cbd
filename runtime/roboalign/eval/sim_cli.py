"""`roboalign eval sim`: closed-loop success of a policy on the simulation suites.

    roboalign eval sim --policy expert|CHECKPOINT --suite nominal|all|a,b --episodes 50 --seed 0 \
        --out eval_runs/expert [--workers K] [--max-seconds 20] [--videos 2] [--ros]

--ros plays the same episodes through the ROS 2 graph (`roboalign rollout --sim`'s server process
and nodes, the sim node building each seed's suite variant): roboalign_ros.eval_sim, found by
module name as `roboalign rollout` is (runtime/ imports no ROS).

Writes OUT/results.jsonl, summary.json, report.md, plots/, contact/, videos/ (eval/sim_report.py).
Registered by eval/cli.py; mujoco and torch load inside the command.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from roboalign.arguments import float_range, int_range
from roboalign.errors import UsageError

ROS_RUNNER = "roboalign_ros.eval_sim"  # the ROS package's module with run(cfg, on_record) -> (records, extra)
ROS_INSTALL = ('the ROS 2 package: pip install -e ".[ros]" && pip install --no-build-isolation -e '
               "ros2_ws/src/roboalign_ros (or `make venv`)")


def default_workers() -> int:
    """One process per two cores, at most 8; 1 on a machine with two cores or fewer."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(8, cores // 2)


def _suites(text: str) -> tuple[str, ...]:
    from roboalign.eval.suites import suite_names  # numpy only

    try:
        return suite_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    p = sub.add_parser("sim", help="closed-loop success on the simulation suites (intervals, failures, videos)")
    p.add_argument("--policy", default="expert", help="expert or a checkpoint folder (default expert)")
    p.add_argument("--suite", type=_suites, default=("nominal",),
                   help="a suite, a comma-separated list or all: nominal, positions_ood, distractors, "
                        "colour_lighting, camera_pose, push, multistep (default nominal)")
    p.add_argument("--episodes", type=int_range(1), default=50, help="episodes per suite (default 50)")
    p.add_argument("--seed", type=int_range(0), default=0, help="first seed; episode i uses seed+i in every suite")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--workers", type=int_range(1, 256), default=None,
                   help=f"processes (default {default_workers()} here: one per two cores, 1 on <= 2 cores)")
    p.add_argument("--max-seconds", type=float_range(0.0, 600.0, low_open=True), default=20.0,
                   help="sim seconds per episode (default 20, as `roboalign rollout`)")
    p.add_argument("--videos", type=int_range(0), default=2, help="episodes per suite saved as mp4 + contact sheet")
    p.add_argument("--threads", type=int_range(1, 256), default=1, help="torch threads per worker (default 1)")
    p.add_argument("--ros", action="store_true",
                   help="through the ROS 2 graph (inference server process + sim/policy/executor/safety nodes; "
                        "one worker, no videos); default: the direct control loop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sim)


def _sim(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.eval.sim_eval import SimEvalConfig, policy_metadata, run_suites, summarize
    from roboalign.eval.sim_report import rate_text, write_outputs

    if args.policy != "expert" and not Path(args.policy).is_dir():
        raise UsageError(f"--policy {args.policy}: give expert or a checkpoint folder")
    if args.out.exists() and any(args.out.iterdir()) and not (args.out / "results.jsonl").exists():
        raise UsageError(f"--out {args.out}: the folder holds other files; give an empty or new folder")
    ros_run = _ros_runner() if args.ros else None
    if args.ros and (args.workers or 1) > 1:
        raise UsageError(f"--workers {args.workers} with --ros: the graph runs one episode at a time in real "
                         "time; run several `eval sim --ros` commands on separate --seed ranges instead")
    cfg = SimEvalConfig(policy=args.policy, suites=tuple(args.suite), episodes=args.episodes, seed=args.seed,
                        workers=1 if args.ros else args.workers or default_workers(), max_seconds=args.max_seconds,
                        videos=0 if args.ros else args.videos, out=str(args.out), torch_threads=args.threads,
                        ros=args.ros)
    args.out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(cfg.jobs()), unit="ep", desc="eval sim", disable=args.quiet, file=sys.stderr)
    done = {"ok": 0, "n": 0}

    def progress(record) -> None:
        done["ok"] += record.success
        done["n"] += 1
        bar.update(1)
        bar.set_postfix(success=f"{done['ok']}/{done['n']}", suite=record.suite)

    wall0 = time.perf_counter()
    extra: dict = {}
    try:
        if ros_run is not None:
            records, extra = ros_run(cfg, on_record=progress)
        else:
            records = run_suites(cfg, on_record=progress)
    finally:
        bar.close()
    summary = {**summarize(records, cfg, policy_metadata(args.policy), time.perf_counter() - wall0), **extra}
    report = write_outputs(args.out, records, summary)
    for name, s in summary["suites"].items():
        print(f"{name:16s} {s['successes']:4d}/{s['episodes']:<4d} {rate_text(s):18s} "
              f"infer p50 {s['infer_ms']['p50']:.1f} ms, p99 {s['infer_ms']['p99']:.1f} ms")
    print(f"wrote {report} ({summary['wall_s']:.0f} s)")
    return 0


def _ros_runner():
    """The ROS package's episode runner, or a one-line UsageError saying what to install."""
    try:
        return importlib.import_module(ROS_RUNNER).run
    except ImportError as exc:
        raise UsageError(f"--ros needs {ROS_INSTALL} ({exc})") from None
