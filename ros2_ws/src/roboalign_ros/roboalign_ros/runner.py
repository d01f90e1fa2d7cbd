"""GraphRunner: every node of a graph YAML in this process, on its own rclpy Context.

    graph = load_graph()                                  # config/rollout_sim.yaml of this package
    with GraphRunner(graph, overrides={"policy": {"endpoint": ep}}, domain_id=42) as runner:
        sim = runner.node("sim")
        with runner.paused():                              # no callback runs in here
            sim.reset(seed=3)

Nodes that name the same `executor` in the YAML share one SingleThreadedExecutor and one spin
thread (measured: rclpy's MultiThreadedExecutor stalls up to 0.75 s under image load on 2
cores; a single-threaded one holds 100 Hz). Its own Context per runner lets tests run several
graphs, each on its own ROS_DOMAIN_ID. Shutdown order matters (recipes/ros2-wheels.md): stop
and join the spin threads, close the nodes' own threads, destroy the nodes, and only then shut
the context down; the other order can abort the process.
"""
from __future__ import annotations

import contextlib
import os
import threading
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from roboalign.errors import ConfigError
from roboalign_ros.graph import GraphSpec, load_graph, profile_environment
from roboalign_ros.params import ParameterError, refuse_undeclared

_SEVERITY = {"debug": rclpy.logging.LoggingSeverity.DEBUG, "info": rclpy.logging.LoggingSeverity.INFO,
             "warn": rclpy.logging.LoggingSeverity.WARN, "error": rclpy.logging.LoggingSeverity.ERROR}


class GraphRunner:
    """overrides: node name -> {parameter: value}, applied over the YAML's parameters (what
    `roboalign rollout --set NODE.PARAM=VALUE` gives). A parameter a node does not declare, or
    refuses, stops start() with a ConfigError at the YAML's line or naming the --set.
    only: run just these nodes (tests of one node against hand-made publishers).
    log_level: "debug", "info", "warn", "error" for every node's logger (None: rclpy's default).
    ros_args: global ROS arguments of the Context (after --ros-args), e.g. ("--disable-stdout-logs",)
    to keep node logs off the terminal (`roboalign record --console`); ROS configures logging
    once per process, when its first Context starts, so logging options apply only then."""

    def __init__(self, graph: GraphSpec | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 domain_id: int | None = None, only: tuple[str, ...] | None = None,
                 log_level: str | None = None, ros_args: tuple[str, ...] = ()) -> None:
        self.graph = graph or load_graph()
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.graph.check_override_nodes(self.overrides)
        self.domain_id = domain_id
        self.log_level = log_level
        self.ros_args = tuple(ros_args)
        self.specs = [n for n in self.graph.nodes if only is None or n.name in only]
        self.context: Context | None = None
        self.nodes: dict[str, Node] = {}
        self.errors: list[str] = []  # tracebacks of callbacks that raised (the spin goes on)
        self._executors: dict[str, SingleThreadedExecutor] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._parked: dict[str, threading.Event] = {}

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> GraphRunner:
        # Never let discovery leave this machine unless the caller chose otherwise, and give
        # images the large shared-memory segment (default 512 KB < one 640x480 frame).
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        os.environ.update(profile_environment(self.graph.fastdds_profile, os.environ))
        self.context = Context()
        rclpy.init(args=["--ros-args", *self.ros_args] if self.ros_args else [], context=self.context,
                   domain_id=self.domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        try:
            for spec in self.specs:
                if self.log_level is not None:
                    rclpy.logging.set_logger_level(spec.name, _SEVERITY[self.log_level.lower()])
                params = {**spec.parameters, **self.overrides.get(spec.name, {})}
                try:
                    node = spec.load_class()(
                        context=self.context,
                        cli_args=spec.ros_arguments(),
                        use_global_arguments=False,
                        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                    )
                    self.nodes[spec.name] = node
                    refuse_undeclared(node)  # the net under nodes that forgot to call it themselves
                except ParameterError as exc:
                    raise self._locate(spec.name, exc) from None
                if spec.executor not in self._executors:
                    self._executors[spec.executor] = SingleThreadedExecutor(context=self.context)
                    self._parked[spec.executor] = threading.Event()
                self._executors[spec.executor].add_node(node)
        except BaseException:
            self.shutdown()
            raise
        self._resume.set()
        for group, executor in self._executors.items():
            thread = threading.Thread(target=self._spin, args=(group, executor), name=f"ros-{group}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _locate(self, node: str, exc: ParameterError) -> ConfigError:
        """Point a refused parameter at where it was given: a --set, else the graph YAML."""
        given = self.overrides.get(node, {})
        if exc.parameter in given:
            return ConfigError(exc.message, path=f"--set {node}.{exc.parameter}={given[exc.parameter]}")
        return self.graph.locate(node, exc.parameter, exc.message)

    def _spin(self, group: str, executor: SingleThreadedExecutor) -> None:
        while not self._stop.is_set():
            if self._pause.is_set():
                self._parked[group].set()
                self._resume.wait()
                continue
            try:
                executor.spin_once(timeout_sec=0.05)
            except Exception:  # a node bug must not silently kill every other node of the group
                if self._stop.is_set():
                    break
                self.errors.append(f"[{group}] {traceback.format_exc()}")
                if len(self.errors) > 100:
                    del self.errors[:50]

    def shutdown(self) -> None:
        self._stop.set()
        self._resume.set()
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._threads.clear()
        for node in reversed(list(self.nodes.values())):
            close = getattr(node, "close", None)
            if close is not None:
                close()
        for executor in self._executors.values():
            executor.shutdown(timeout_sec=1.0)
        for node in reversed(list(self.nodes.values())):
            node.destroy_node()
        self.nodes.clear()
        self._executors.clear()
        if self.context is not None:
            rclpy.try_shutdown(context=self.context)
            self.context = None

    def __enter__(self) -> GraphRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- use ------------------------------------------------------------------------------
    def node(self, name: str) -> Any:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no running node {name!r} (running: {sorted(self.nodes)})") from None

    @contextlib.contextmanager
    def paused(self, timeout_s: float = 5.0) -> Iterator[None]:
        """No executor callback runs inside this block (nodes' own threads still do: cameras,
        policy calls). Used to reset several nodes consistently between episodes."""
        self._resume.clear()
        for parked in self._parked.values():
            parked.clear()  # a thread still waking from the last pause sets it again first
        self._pause.set()
        try:
            for group, parked in self._parked.items():
                if not parked.wait(timeout_s):
                    raise TimeoutError(f"executor {group!r} did not pause within {timeout_s} s (a callback is stuck)")
            yield
        finally:
            self._pause.clear()
            self._resume.set()
