"""`roboalign record`: record demonstrations through the ROS 2 graph into MCAP episode files.

    roboalign record --sim --episodes 20 --out demos/touch --operator ana --task touch
    roboalign record --graph rollout_robot_fr3.yaml --driver teleop --console --episodes 30 --out demos/fr3

--sim --driver expert (the default): the scripted expert, served by the inference server like any
policy, drives the simulated arm through the rollout graph (policy -> executor -> safety); the
recorder node (config/record_sim.yaml) records each seeded episode and marks it success or
failure from the simulator's success test, then the next one starts.

--driver teleop: the graph runs without policy and executor; the teleop node
(roboalign_ros.teleop_node:TeleopNode) drives through the safety node, and the operator starts,
stops, discards and marks episodes on /recorder/command (the operator console, or
`ros2 topic pub --once /recorder/command std_msgs/String "data: start"`); the command ends after
--episodes sealed episodes or Ctrl-C. Without --sim the graph is a real robot's
(--graph config/rollout_robot*.yaml) and teleop is the only driver.

--console: the operator console (roboalign_ros.console_cli.bridged_console, the app of `roboalign
console`) runs in this terminal, attached to the graph this command started: the recorder's
status, its keys (start / stop / discard / success / failure), the e-stop (the console is an
e-stop source, as estop_node), and with --driver teleop the teleop keys. The nodes' logs then go
to ROS's log files instead of the terminal. It ends with the last episode, `q`, or SIGTERM /
SIGHUP (Ctrl-C is the console's own key: it says to quit with `q`).

Any graph without a node named `recorder` gets the one of config/record_sim.yaml (its robot
taken from the graph's safety node). Files: docs/data.md, "Recording". Interrupted mid-episode
(Ctrl-C, SIGTERM), the episode is kept as a flagged partial; killed (SIGKILL), it is recovered
or quarantined the next time a session opens the folder, or by `roboalign dataset recover DIR`.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from roboalign.arguments import float_range, int_range
from roboalign.errors import ConfigError, RoboAlignError, UsageError
from roboalign_ros.rollout_cli import MAX_DOMAIN_ID, domain_id_from, parse_sets, sigterm_as_interrupt

DRIVERS = ("expert", "teleop")
TELEOP_MODULE = "roboalign_ros.teleop_node"
TELEOP_CLASS = f"{TELEOP_MODULE}:TeleopNode"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("record", help="record demonstrations (sim or real) into MCAP episode files",
                              description=__doc__.splitlines()[0])
    p.add_argument("--sim", action="store_true", help="the MuJoCo sim arm (default graph config/record_sim.yaml)")
    p.add_argument("--out", type=Path, required=True, help="folder of the episode files (episode_NNNNNN.mcap)")
    p.add_argument("--driver", choices=DRIVERS, default="expert",
                   help="expert: the scripted expert through the policy server (sim only); teleop: the teleop node")
    p.add_argument("--episodes", type=int_range(1), default=5, help="episodes to record (default 5)")
    p.add_argument("--seed", type=int_range(0), default=0, help="sim: first seed; episode i uses seed + i")
    p.add_argument("--task", default=None, help="task family (touch, push) or a full instruction")
    p.add_argument("--operator", default="", help="who records (metadata of every episode)")
    p.add_argument("--notes", default="", help="free text (metadata of every episode)")
    p.add_argument("--max-seconds", type=float_range(0.0, 3600.0, low_open=True), default=20.0,
                   help="expert: wall-time limit per episode (s, default 20); a timeout is marked failure")
    p.add_argument("--graph", type=Path, default=None,
                   help="node graph YAML (default with --sim: config/record_sim.yaml; required without)")
    p.add_argument("--domain-id", type=int_range(0, MAX_DOMAIN_ID), default=None,
                   help=f"ROS_DOMAIN_ID, 0..{MAX_DOMAIN_ID} (default: $ROS_DOMAIN_ID or one from the pid)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a node parameter (repeatable), e.g. --set recorder.flush_period_s=0.5")
    p.add_argument("--console", action="store_true",
                   help="the operator console in this terminal: recorder status and keys, e-stop, and the teleop "
                        "keys with --driver teleop (needs a terminal)")
    p.add_argument("--verbose", action="store_true", help="show the nodes' INFO logs (default: warnings only)")
    p.set_defaults(func=run_record)


# ---- the graph ------------------------------------------------------------------------------
def recording_graph(graph, driver: str):
    """`graph` with a recorder node (record_sim.yaml's, when it has none) and, for teleop, the
    teleop node in place of policy and executor. Both added nodes take the robot of the graph's
    safety node: a real arm's RobotSpec, not the sim arm's defaults (joint names, limits, IK)."""
    from roboalign_ros.graph import default_graph_path, load_graph

    nodes = {n.name: n for n in graph.nodes}
    robot = nodes["safety"].parameters.get("robot") if "safety" in nodes else None
    with_robot = {} if robot is None else {"robot": robot}
    if "recorder" not in nodes:
        recorder = load_graph(default_graph_path("record_sim")).node("recorder")
        nodes["recorder"] = dataclasses.replace(recorder, parameters={**recorder.parameters, **with_robot})
    if driver == "teleop":
        if importlib.util.find_spec(TELEOP_MODULE) is None:
            raise UsageError(f"--driver teleop needs the teleop node ({TELEOP_CLASS}), which is not installed in "
                             "this checkout yet; record with --sim --driver expert meanwhile")
        from roboalign_ros.graph import NodeSpec

        nodes.pop("policy", None)
        nodes.pop("executor", None)  # teleop commands /arm/command_raw itself, through the safety node
        nodes.setdefault("teleop", NodeSpec(name="teleop", package="roboalign_ros", executable="teleop_node",
                                            node_class=TELEOP_CLASS, executor="teleop", parameters=with_robot))
    return dataclasses.replace(graph, name=f"{graph.name}+record", nodes=tuple(nodes.values()))


def run_record(args: argparse.Namespace) -> int:
    from roboalign_ros.graph import default_graph_path, load_graph

    if not args.sim and args.driver == "expert":
        raise UsageError("the scripted expert needs the simulator (privileged object positions): use --sim, "
                         "or --driver teleop with a robot graph (--graph .../config/rollout_robot_<arm>.yaml)")
    if not args.sim and args.graph is None:
        raise UsageError("recording on a robot needs its graph: --graph .../config/rollout_robot_<arm>.yaml (docs/robot.md)")
    if args.console:
        _check_console()
    overrides = parse_sets(args.set)
    graph = recording_graph(load_graph(args.graph or default_graph_path("record_sim")), args.driver)
    names = {n.name for n in graph.nodes}
    if args.sim and "sim" not in names:
        raise ConfigError("record --sim needs a node named sim in the graph", path=graph.source)
    graph.check_override_nodes(overrides)
    overrides["recorder"] = {"output_dir": str(args.out), "operator": args.operator, "notes": args.notes,
                             "task": args.task or "", "driver": args.driver, **overrides.get("recorder", {})}
    domain_id = domain_id_from(args.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    with sigterm_as_interrupt():
        if args.driver == "expert":
            return _record_expert(args, graph, overrides, domain_id)
        return _record_operated(args, graph, overrides, domain_id)


# ---- drivers ----------------------------------------------------------------------------------
def _runner(args: argparse.Namespace, graph, overrides: dict[str, dict[str, Any]], domain_id: int):
    from roboalign_ros.runner import GraphRunner

    return GraphRunner(graph, overrides=overrides, domain_id=domain_id, log_level="info" if args.verbose else "warn",
                       ros_args=("--disable-stdout-logs",) if args.console else ())  # the console owns the terminal


def _record_expert(args: argparse.Namespace, graph, overrides: dict[str, dict[str, Any]], domain_id: int) -> int:
    from roboalign_ros.rollout_cli import _start_server

    with _start_server("expert") as server:
        overrides["policy"] = {"endpoint": server.endpoint, **overrides.get("policy", {})}
        with _runner(args, graph, overrides, domain_id) as runner:
            recorder = runner.node("recorder")
            _say_recovered(recorder)
            if not args.console:
                _expert_episodes(args, runner, recorder, print, threading.Event())
            else:
                lines: list[str] = []  # printed once the console has given the terminal back
                quit_ = threading.Event()
                failed: list[BaseException] = []

                def drive() -> None:
                    try:
                        _expert_episodes(args, runner, recorder, lines.append, quit_)
                    except BaseException as exc:  # re-raised in the main thread, after the console
                        failed.append(exc)

                driver = threading.Thread(target=drive, name="record-expert", daemon=True)
                driver.start()
                try:
                    _run_console(runner, args, until=lambda: not driver.is_alive())
                finally:
                    quit_.set()
                    driver.join(timeout=args.max_seconds + 10.0)
                    for line in lines:
                        print(line, flush=True)
                if failed:
                    raise failed[0]
            errors = list(runner.errors)
    _summary(args.out)
    if errors:
        raise RoboAlignError(f"{len(errors)} node callback(s) raised; first: {errors[0].strip().splitlines()[-1]}")
    return 0


def _expert_episodes(args: argparse.Namespace, runner, recorder, say, quit_: threading.Event) -> None:
    """One seeded episode after another, each marked from the sim's success test. With the
    console an operator may also command the recorder (discard an episode, start one early):
    then a refused command means the operator got there first, not an error."""
    from roboalign_ros.sim_episodes import SimEpisodes

    sim = SimEpisodes(runner)
    sim.wait_ready()
    for i in range(args.episodes):
        if quit_.is_set():
            return
        seed = args.seed + i
        recorder.annotate(seed=seed)
        instruction = sim.reset(seed, args.task)
        # the episode's metadata is taken at start: wait until the recorder has this reset's
        # instruction and task (seed, family, target: /task/info, what the aux loss trains on)
        _wait_for(lambda instruction=instruction, seed=seed: recorder.instruction == instruction
                  and (recorder.sim_task or {}).get("seed") == seed, 2.0)
        sealed_before = len(recorder.session.sealed)
        _command(recorder, "start", operator=args.console)
        t0 = time.monotonic()
        while not sim.sim.success and time.monotonic() - t0 < args.max_seconds and not quit_.is_set():
            time.sleep(0.02)
        if quit_.is_set():
            return  # the operator left mid-episode: it is kept as a flagged partial, as on Ctrl-C
        _command(recorder, "success" if sim.sim.success else "failure", operator=args.console)
        if len(recorder.session.sealed) == sealed_before:
            say(f"episode of seed {seed}: discarded by the operator")
            continue
        sealed = recorder.session.sealed[-1]
        say(f"episode {sealed.index:06d} seed {seed}: {'success' if sealed.outcome == 'success' else 'FAILED '} "
            f"{sealed.duration_s:5.2f} s  {instruction!r}")


def _record_operated(args: argparse.Namespace, graph, overrides: dict[str, dict[str, Any]], domain_id: int) -> int:
    with _runner(args, graph, overrides, domain_id) as runner:
        recorder = runner.node("recorder")
        _say_recovered(recorder)
        if args.console:
            _run_console(runner, args, until=lambda: len(recorder.session.sealed) >= args.episodes)
        else:
            _follow_status(args, recorder, domain_id)
    _summary(args.out)
    return 0


def _follow_status(args: argparse.Namespace, recorder, domain_id: int) -> None:
    print(f"recording into {args.out}: drive with the teleop node; start / stop / discard / success / failure "
          f"on /recorder/command; the operator console attaches with `roboalign console --domain-id {domain_id}"
          f"{' --teleop-keys' if args.driver == 'teleop' else ''}`; Ctrl-C ends", flush=True)
    last = None
    try:
        while len(recorder.session.sealed) < args.episodes:
            status = recorder.status()
            line = (status["state"], status["episode_count"], status["message"])
            if line != last:
                print(f"[{status['state']}] episode {status['episode_index']:06d}, {status['episode_count']} "
                      f"sealed: {status['message']}", flush=True)
                last = line
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)


# ---- the console -----------------------------------------------------------------------------
def _check_console() -> None:
    """Before anything starts: the console needs a terminal and textual (the `data` extra)."""
    if not sys.stdin.isatty():
        raise UsageError("--console needs a terminal (stdin is not a TTY); record without it and attach "
                         "`roboalign console --domain-id N` from a terminal")
    if importlib.util.find_spec("textual") is None:
        raise UsageError("--console needs textual: pip install -e '.[data]'")


def _run_console(runner, args: argparse.Namespace, until) -> None:
    """The operator console on the graph's own Context until `until()`, `q`, or SIGTERM / SIGHUP
    (which end the console the same way, instead of unwinding through textual's event loop)."""
    from roboalign_ros.console_cli import bridged_console

    signalled: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: signalled.append(signal.Signals(signum).name))
                for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with bridged_console(runner.context, teleop_keys=args.driver == "teleop",
                             until=lambda: bool(signalled) or until()) as app:
            run_app(app)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"node logs of this session: {_ros_log_dir()}/*_{os.getpid()}_*.log", flush=True)
    if signalled:
        print(f"interrupted ({signalled[0]})", flush=True)


def run_app(app) -> None:
    """Runs the textual app in this terminal (a test runs it through textual's pilot instead)."""
    app.run()


def _ros_log_dir() -> Path:
    if os.environ.get("ROS_LOG_DIR"):
        return Path(os.environ["ROS_LOG_DIR"])
    return Path(os.environ.get("ROS_HOME") or Path.home() / ".ros") / "log"


def _command(recorder, word: str, operator: bool = False) -> dict[str, Any]:
    """A recorder command of this command's own; refused, it is an error unless an operator
    (the console) may have commanded the recorder meanwhile."""
    status = recorder.command(word)
    if not status["accepted"] and not operator:
        raise RoboAlignError(f"the recorder refused {word!r}: {status['message']}")
    return status


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _say_recovered(recorder) -> None:
    for line in recorder.session.recovered:
        print(f"recovered from an earlier crash: {line}", flush=True)


def _summary(out: Path) -> None:
    from roboalign.data.recording_reader import find_recordings

    files = find_recordings(out)
    size = sum(p.stat().st_size for p in files) / 1e6
    partial = len(find_recordings(out, include_partial=True)) - len(files)
    print(f"{len(files)} episode file(s) in {out} ({size:.1f} MB)" + (f", {partial} partial" if partial else ""),
          flush=True)
