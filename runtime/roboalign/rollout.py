"""`roboalign rollout --sim`: the whole deployment graph against the MuJoCo arm.

    roboalign rollout --sim --policy expert --episodes 5 --seed 0 --json out.json

Starts the inference server in its own process (`roboalign serve`), runs the ROS 2 node graph
of launch/config/rollout_sim.yaml in this process (sim -> policy -> executor -> safety -> sim),
plays N seeded episodes and prints success rate, latency percentiles (observation->chunk,
command->arm) and the safety filter's interventions; --json writes the same as a file.

DDS stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on its own ROS_DOMAIN_ID.
rclpy and the nodes are imported inside the command, so `roboalign --help` stays instant.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

STAGES = ("observation->chunk", "command->arm", "server_roundtrip")
INTERVENTIONS = ("limited", "clamped", "rejected", "hold", "estopped", "watchdog_trips")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rollout", help="run the ROS 2 deployment graph against the sim arm",
                              description=__doc__.splitlines()[0])
    p.add_argument("--sim", action="store_true", help="against the MuJoCo sim arm (the only mode so far)")
    p.add_argument("--policy", default="expert", help="served policy: expert or a checkpoint folder (default expert)")
    p.add_argument("--episodes", type=int, default=5, help="number of episodes (default 5)")
    p.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed + i")
    p.add_argument("--max-seconds", type=float, default=20.0, help="wall-time limit per episode (s)")
    p.add_argument("--task", default=None, help="task family (touch, push) or a full instruction")
    p.add_argument("--json", type=Path, default=None, help="write the summary here")
    p.add_argument("--graph", type=Path, default=None, help="node graph YAML (default launch/config/rollout_sim.yaml)")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID or one from the pid)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a node parameter, value parsed as YAML (repeatable), e.g. --set policy.replan_period=0.3")
    p.add_argument("--verbose", action="store_true", help="show the nodes' INFO logs (default: warnings only)")
    p.add_argument("--min-success-rate", type=float, default=0.0, help="exit 1 below this success rate (0..1)")
    p.set_defaults(func=run_rollout)


# ---- summary (pure) -------------------------------------------------------------------------
def percentiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    import numpy as np

    if not samples:
        return {"p50": None, "p99": None, "mean": None, "max": None, "n": 0}
    x = np.asarray(samples, dtype=np.float64)
    return {"p50": round(float(np.percentile(x, 50)), 3), "p99": round(float(np.percentile(x, 99)), 3),
            "mean": round(float(x.mean()), 3), "max": round(float(x.max()), 3), "n": int(x.size)}


def summarize(episodes: list[dict[str, Any]], latency_samples: dict[str, list[float]], wall_s: float,
              policy: str, domain_id: int) -> dict[str, Any]:
    successes = sum(1 for e in episodes if e["success"])
    totals = {k: sum(int(e["safety"].get(k, 0)) for e in episodes) for k in INTERVENTIONS}
    return {
        "policy": policy,
        "episodes": len(episodes),
        "successes": successes,
        "success_rate": successes / len(episodes) if episodes else 0.0,
        "latency_ms": {stage: percentiles(latency_samples.get(stage, [])) for stage in STAGES},
        "safety_interventions": totals,
        "max_safety_correction_rad": max((e["max_correction_rad"] for e in episodes), default=0.0),
        "wall_s": round(wall_s, 2),
        "ros_domain_id": domain_id,
        "per_episode": episodes,
    }


def format_summary(s: dict[str, Any]) -> str:
    lines = [f"rollout (sim, policy {s['policy']}): {s['successes']}/{s['episodes']} succeeded "
             f"({100 * s['success_rate']:.0f} %) in {s['wall_s']:.1f} s"]
    for stage, p in s["latency_ms"].items():
        if p["n"]:
            lines.append(f"  latency {stage:<20} p50 {p['p50']:7.2f} ms   p99 {p['p99']:7.2f} ms   (n={p['n']})")
    iv = s["safety_interventions"]
    lines.append("  safety: " + ", ".join(f"{k} {v}" for k, v in iv.items())
                 + f"; largest correction {s['max_safety_correction_rad']:.3f} rad")
    return "\n".join(lines)


def _overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        node, dot, param = key.partition(".")
        if not (sep and dot and node and param):
            raise ValueError(f"--set {pair!r}: expected NODE.PARAM=VALUE, e.g. policy.replan_period=0.3")
        out.setdefault(node, {})[param] = yaml.safe_load(value)
    return out


# ---- the command ----------------------------------------------------------------------------
def run_rollout(args: argparse.Namespace) -> int:
    if not args.sim:
        print("roboalign rollout: only --sim is implemented here; on a robot run "
              "`ros2 launch launch/rollout_sim.launch.py` with your driver in place of the sim node",
              file=sys.stderr)
        return 2
    if args.episodes < 1:
        print("--episodes must be at least 1", file=sys.stderr)
        return 2
    try:
        overrides = _overrides(args.set)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    domain_id = args.domain_id if args.domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", 100 + os.getpid() % 100))
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)

    from roboalign_ros.graph import load_graph

    graph = load_graph(args.graph)
    _match_declared_types(graph, overrides)
    try:
        return _run(args, graph, overrides, domain_id)
    except Exception as exc:  # a readable line, not a traceback (--verbose shows the traceback)
        if args.verbose:
            raise
        print(f"roboalign rollout: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _match_declared_types(graph, overrides: dict[str, dict[str, Any]]) -> None:
    """`--set policy.request_timeout=5` means 5.0 where the graph declares a float: ROS
    parameters are typed, and an int for a double parameter is refused at node start."""
    for node_name, params in overrides.items():
        try:
            declared = graph.node(node_name).parameters
        except (KeyError, ValueError):
            continue
        for key, value in params.items():
            if isinstance(declared.get(key), float) and isinstance(value, int) and not isinstance(value, bool):
                params[key] = float(value)


def _run(args: argparse.Namespace, graph, overrides: dict[str, dict[str, Any]], domain_id: int) -> int:
    from roboalign.serving.process import ServerProcess
    from roboalign_ros.runner import GraphRunner
    from roboalign_ros.sim_episodes import SimEpisodes

    wall0 = time.monotonic()
    episodes: list[dict[str, Any]] = []
    errors: list[str] = []
    with ServerProcess(policy=args.policy) as server:
        policy_params = {"endpoint": server.endpoint, "use_privileged": args.policy == "expert"}
        overrides["policy"] = {**policy_params, **overrides.get("policy", {})}
        with GraphRunner(graph, overrides=overrides, domain_id=domain_id,
                         log_level="info" if args.verbose else "warn") as runner:
            sim = SimEpisodes(runner)
            sim.wait_ready()
            for i in range(args.episodes):
                outcome = sim.run(args.seed + i, max_seconds=args.max_seconds, task=args.task)
                episodes.append(outcome.to_dict())
                print(f"episode {i + 1}/{args.episodes} seed {outcome.seed}: "
                      f"{'success' if outcome.success else 'FAILED '} in {outcome.duration_s:5.2f} s  "
                      f"{outcome.instruction!r}", flush=True)
            latency = sim.latency_ms()
            errors = list(runner.errors)
    summary = summarize(episodes, latency, time.monotonic() - wall0, args.policy, domain_id)
    summary["node_errors"] = errors
    print(format_summary(summary))
    if errors:
        print(f"{len(errors)} node callback(s) raised; first:\n{errors[0]}", file=sys.stderr)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    return 1 if errors or summary["success_rate"] < args.min_success_rate else 0
