"""The node graph as data: which nodes run, with which parameters and remappings.

One YAML file (launch/config/rollout_sim.yaml) is read by both the ros2 launch file (on a
workstation with a full ROS 2) and the in-process runner (roboalign_ros.runner, used by the CLI,
the demo and the tests). No rclpy import here, so the launch file and CI can validate it.

    graph: rollout_sim
    fastdds_profile: fastdds_profile.xml   # relative to this YAML; optional
    nodes:
      - name: safety                       # ROS node name
        package: roboalign_ros             # for ros2 launch
        executable: safety_node            # console_scripts entry of the package
        class: roboalign_ros.safety_node:SafetyNode   # for the in-process runner
        executor: control                  # runner: nodes sharing a name share one executor thread
        parameters: {watchdog_timeout: 0.25}
        remappings: {/arm/command: /arm/command}
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any

import yaml

_NODE_KEYS = {"name", "package", "executable", "class", "executor", "parameters", "remappings"}
_SCALARS = (bool, int, float, str)


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    name: str
    package: str
    executable: str
    node_class: str                    # "module:Class"
    executor: str = "main"
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    remappings: dict[str, str] = dataclasses.field(default_factory=dict)

    def load_class(self) -> type:
        module, _, attr = self.node_class.partition(":")
        return getattr(importlib.import_module(module), attr)

    def ros_arguments(self) -> list[str]:
        """`--ros-args` form of the node name and remappings (what `ros2 run` would get)."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        for src, dst in self.remappings.items():
            args += ["-r", f"{src}:={dst}"]
        return args


@dataclasses.dataclass(frozen=True)
class GraphSpec:
    name: str
    nodes: tuple[NodeSpec, ...]
    fastdds_profile: Path | None = None
    source: Path | None = None

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(f"graph {self.name!r} has no node {name!r} (nodes: {[n.name for n in self.nodes]})")


def default_graph_path(name: str = "rollout_sim") -> Path:
    """$ROBOALIGN_GRAPH, else launch/config/<name>.yaml of the source checkout."""
    env = os.environ.get("ROBOALIGN_GRAPH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "launch" / "config" / f"{name}.yaml"


def _check_param(node: str, key: str, value: Any) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and value and all(isinstance(v, _SCALARS) for v in value):
        if len({type(v) for v in value}) == 1:
            return
    raise ValueError(f"node {node!r}: parameter {key!r} must be a scalar or a non-empty list of one type, got {value!r}")


def load_graph(path: str | Path | None = None) -> GraphSpec:
    """Read and validate a graph YAML; errors name the file, the node and the key."""
    path = Path(path) if path is not None else default_graph_path()
    if not path.is_file():
        raise FileNotFoundError(f"node graph {path} not found (set ROBOALIGN_GRAPH or pass a path)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("nodes"), list) or not data["nodes"]:
        raise ValueError(f"{path}: needs a non-empty 'nodes' list")
    nodes = []
    for i, raw in enumerate(data["nodes"]):
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: nodes[{i}] must be a mapping")
        unknown = set(raw) - _NODE_KEYS
        missing = {"name", "package", "executable", "class"} - set(raw)
        if unknown or missing:
            raise ValueError(f"{path}: nodes[{i}] has unknown keys {sorted(unknown)} / lacks {sorted(missing)}")
        if ":" not in str(raw["class"]):
            raise ValueError(f"{path}: node {raw['name']!r}: class must look like 'module:Class'")
        params = dict(raw.get("parameters") or {})
        for key, value in params.items():
            _check_param(raw["name"], key, value)
        remaps = {str(k): str(v) for k, v in (raw.get("remappings") or {}).items()}
        nodes.append(NodeSpec(name=str(raw["name"]), package=str(raw["package"]), executable=str(raw["executable"]),
                              node_class=str(raw["class"]), executor=str(raw.get("executor", "main")),
                              parameters=params, remappings=remaps))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: node names must be unique, got {names}")
    profile = data.get("fastdds_profile")
    profile_path = (path.parent / profile).resolve() if profile else None
    if profile_path is not None and not profile_path.is_file():
        raise ValueError(f"{path}: fastdds_profile {profile_path} does not exist")
    return GraphSpec(name=str(data.get("graph", path.stem)), nodes=tuple(nodes), fastdds_profile=profile_path,
                     source=path)
