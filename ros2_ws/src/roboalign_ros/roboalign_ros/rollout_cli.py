"""`roboalign rollout --sim`: the whole deployment graph against the MuJoCo arm.

    roboalign rollout --sim --policy expert --episodes 5 --seed 0 --json out.json

Starts the inference server in its own process (`roboalign serve`), runs the ROS 2 node graph
(config/rollout_sim.yaml of this package) in this process (sim -> policy -> executor -> safety
-> sim), plays N seeded episodes and prints success rate (and the seeds that failed), latency
percentiles p50/p95/p99 (server inference, observation->chunk, command->arm) and the safety
filter's interventions; --json writes the same as a file. `make demo` runs it on the bundled
VLA (docs/eval.md).

This command lives in the ROS package (runtime/ never imports ROS); the `roboalign` CLI finds
it through the `roboalign.commands` entry point that setup.py declares. rclpy and the nodes are
imported inside the command, so `roboalign --help` stays instant.

Fails closed and says why in one line: a misspelt parameter in the graph YAML or in --set is
refused by name; a policy that cannot drive this arm is refused as soon as the policy node has
read its metadata; a rollout below --min-success-rate exits 1 saying so. The server dies with
this command whatever ends it (roboalign.serving.process). DDS stays on this machine
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on its own ROS_DOMAIN_ID.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from roboalign.arguments import float_range, int_range
from roboalign.config import parse_override
from roboalign.errors import ConfigError, RoboAlignError, UsageError

MAX_DOMAIN_ID = 232  # the largest ROS_DOMAIN_ID ROS 2 accepts (its DDS port arithmetic)
SIM_NODES = ("sim", "policy", "executor", "safety")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rollout", help="run the ROS 2 deployment graph against the sim arm",
                              description=__doc__.splitlines()[0])
    p.add_argument("--sim", action="store_true", help="against the MuJoCo sim arm (the only mode so far)")
    p.add_argument("--policy", default="expert", help="served policy: expert or a checkpoint folder (default expert)")
    p.add_argument("--episodes", type=int_range(1), default=5, help="number of episodes (default 5)")
    p.add_argument("--seed", type=int_range(0), default=0, help="first seed; episode i uses seed + i")
    p.add_argument("--max-seconds", type=float_range(0.0, 3600.0, low_open=True), default=20.0,
                   help="wall-time limit per episode (s, default 20)")
    p.add_argument("--task", default=None, help="task family (touch, push) or a full instruction")
    p.add_argument("--json", type=Path, default=None, help="write the summary here")
    p.add_argument("--graph", type=Path, default=None,
                   help="node graph YAML (default: config/rollout_sim.yaml of the roboalign_ros package; "
                        "config/rollout_robot_sim.yaml: the real-robot graph with the sim behind its controllers)")
    p.add_argument("--domain-id", type=int_range(0, MAX_DOMAIN_ID), default=None,
                   help=f"ROS_DOMAIN_ID, 0..{MAX_DOMAIN_ID} (default: $ROS_DOMAIN_ID or one from the pid)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a node parameter, value parsed as YAML (repeatable), e.g. --set policy.replan_period=0.3")
    p.add_argument("--verbose", action="store_true", help="show the nodes' INFO logs (default: warnings only)")
    p.add_argument("--min-success-rate", type=float_range(0.0, 1.0), default=0.0,
                   help="exit 1 below this success rate (0..1)")
    p.set_defaults(func=run_rollout)


# ---- arguments --------------------------------------------------------------------------------
def parse_sets(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """["policy.replan_period=0.3"] -> {"policy": {"replan_period": 0.3}}; ConfigError otherwise."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        keypath, value = parse_override(pair)
        if len(keypath) != 2:
            raise ConfigError("expected NODE.PARAM=VALUE, e.g. policy.replan_period=0.3", path=f"--set {pair}")
        out.setdefault(keypath[0], {})[keypath[1]] = value
    return out


def domain_id_from(arg: int | None) -> int:
    if arg is not None:
        return arg
    text = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return 100 + os.getpid() % 100
    if not text.isdigit() or int(text) > MAX_DOMAIN_ID:
        raise UsageError(f"ROS_DOMAIN_ID={text!r} is not a domain id 0..{MAX_DOMAIN_ID}; fix it or pass --domain-id")
    return int(text)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (timeout, CI, systemd, a closed terminal) unwind like Ctrl-C, so the
    graph shuts down in order and the server is stopped by its `with` block."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---- the command ----------------------------------------------------------------------------
def run_rollout(args: argparse.Namespace) -> int:
    if not args.sim:
        raise UsageError("only --sim runs in-process; on a robot run `ros2 launch roboalign_ros rollout_robot.launch.py "
                         "driver:=fr3|ur5e|...` (docs/robot.md), or try that graph here first with "
                         "--sim --graph .../config/rollout_robot_sim.yaml")
    from roboalign_ros.graph import load_graph  # no rclpy: the checks below cost no ROS start-up

    overrides = parse_sets(args.set)
    graph = load_graph(args.graph)
    missing = [n for n in SIM_NODES if n not in {s.name for s in graph.nodes}]
    if missing:
        raise ConfigError(f"rollout --sim needs nodes named {', '.join(SIM_NODES)}; this graph lacks "
                          f"{', '.join(missing)}", path=graph.source)
    graph.check_override_nodes(overrides)
    domain_id = domain_id_from(args.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    with sigterm_as_interrupt():
        return _run(args, graph, overrides, domain_id)


def _start_server(policy: str):
    from roboalign.serving.process import ServerProcess, ServerProcessError

    server = ServerProcess(policy=policy)
    try:
        server.start()
    except ServerProcessError:
        lines = [line.strip() for line in server.log_tail().splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        raise RoboAlignError(f"the inference server for policy {policy!r} did not start: {last} "
                             f"(its log: {server.log_path})") from None
    _preflight(server)
    return server


def _preflight(server) -> None:
    """Refuse a served policy that can never drive the sim arm before any node starts, with the
    policy node's own words (PolicyMetadata.deployment_problem): one line, exit 2."""
    from roboalign.serving.client import RemotePolicy
    from roboalign.serving.errors import ServingError

    try:
        with RemotePolicy(server.endpoint, timeout_s=10.0) as policy:
            problem = policy.metadata().deployment_problem(simulation=True)
    except ServingError as exc:
        server.stop()
        raise RoboAlignError(f"the inference server at {server.endpoint} does not answer: {exc}") from None
    except ValueError as exc:
        server.stop()
        raise UsageError(f"the served policy's metadata is unusable: {exc}") from None
    if problem is not None:
        server.stop()
        raise UsageError(problem)


def _run(args: argparse.Namespace, graph, overrides: dict[str, dict[str, Any]], domain_id: int) -> int:
    from roboalign_ros.rollout_summary import format_summary, summarize
    from roboalign_ros.runner import GraphRunner
    from roboalign_ros.sim_episodes import SimEpisodes

    wall0 = time.monotonic()
    episodes: list[dict[str, Any]] = []
    with _start_server(args.policy) as server:
        print(f"inference server: pid {server.pid} at {server.endpoint} (policy {args.policy}, log {server.log_path})",
              flush=True)
        overrides["policy"] = {"endpoint": server.endpoint, **overrides.get("policy", {})}
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
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    if errors:
        if args.verbose:
            print(errors[0], file=sys.stderr)
        last = errors[0].strip().splitlines()[-1]
        raise RoboAlignError(f"{len(errors)} node callback(s) raised; first: {last} (--verbose shows its traceback)")
    if summary["success_rate"] < args.min_success_rate:
        raise RoboAlignError(f"success rate {100 * summary['success_rate']:.0f} % "
                             f"({summary['successes']}/{summary['episodes']}) is below "
                             f"--min-success-rate {100 * args.min_success_rate:.0f} %")
    return 0
