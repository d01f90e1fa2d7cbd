"""The node graph as data: which nodes run, with which parameters and remappings.

One YAML file (config/rollout_sim.yaml of this package) is read by both the ros2 launch file
(launch/rollout_sim.launch.py, on a workstation with a full ROS 2) and the in-process runner
(roboalign_ros.runner, used by `roboalign rollout`, the demo and the tests). No rclpy import
here, so the launch file and CI can validate it.

    graph: rollout_sim
    fastdds_profile: fastdds_profile.xml   # optional; relative: beside this YAML, else the package's config/
    nodes:
      - name: safety                       # ROS node name
        package: roboalign_ros             # for ros2 launch
        executable: safety_node            # console_scripts entry of the package
        class: roboalign_ros.safety_node:SafetyNode   # for the in-process runner
        executor: control                  # runner: nodes sharing a name share one executor thread
        parameters: {watchdog_timeout: 0.25}
        remappings: {/arm/command: /arm/command}

A graph may build on another (`base:`, relative like fastdds_profile), so a variant says only
what differs: the real-robot graph for one arm (rollout_robot_fr3.yaml), or the same graph
with the simulator behind the controller interface (rollout_robot_sim.yaml):

    graph: rollout_robot_fr3
    base: rollout_robot.yaml               # every node, parameter and remapping of that graph
    nodes: [...]                           # optional: added nodes (one of a base node's name replaces it)
    parameters:                            # node -> parameters merged over the base's
      controller_bridge: {arm_controller: fr3_arm_controller}
    remappings:                            # node -> remappings merged over the base's
      policy: {/camera/front/image_raw: /camera/color/image_raw}

Whether each parameter is one its node declares is checked when the node starts (every node
refuses undeclared parameters, roboalign_ros.params); `GraphSpec.locate` gives the YAML line
and column of a parameter so that refusal can point at the file.

The package's share folder (launch/, config/) is found through the ament index when ROS 2 has
it (a sourced colcon install), else in the source tree (a checkout, `pip install -e`), else
under <prefix>/share/roboalign_ros (a plain `pip install`).
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from roboalign.config import check_keys, read_yaml
from roboalign.errors import ConfigError

PACKAGE = "roboalign_ros"
_GRAPH_KEYS = ("graph", "fastdds_profile", "base", "nodes", "parameters", "remappings")
MAX_BASE_DEPTH = 4
# Lifecycle (managed) nodes of this package: a launch file configures and activates them
# (the tests check this list against the classes).
MANAGED_NODES = frozenset({f"{PACKAGE}.controller_bridge_node:ControllerBridgeNode",
                           f"{PACKAGE}.camera_node:CameraNode"})
_NODE_KEYS = ("name", "package", "executable", "class", "executor", "parameters", "remappings")
_REQUIRED_NODE_KEYS = ("name", "package", "executable", "class")
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
    # (node name, parameter) -> (file, line, column) where it was set (`source` or a base), for
    # errors that point at the file
    marks: dict[tuple[str, str], tuple[Path, int, int]] = dataclasses.field(default_factory=dict, compare=False)

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(f"graph {self.name!r} has no node {name!r} (nodes: {[n.name for n in self.nodes]})")

    def check_override_nodes(self, overrides: dict[str, Any]) -> None:
        """Refuse overrides (`--set NODE.PARAM=...`) for nodes this graph does not have."""
        names = [n.name for n in self.nodes]
        for name in overrides:
            if name not in names:
                try:
                    check_keys([name], names)
                except ConfigError as exc:
                    message = exc.message.replace("unknown key", f"no such node in graph {self.name!r}")
                    raise ConfigError(message.replace("valid keys", "nodes"), path=f"--set {name}.*") from None

    def locate(self, node: str, parameter: str, message: str) -> ConfigError:
        """A ConfigError about one node parameter of this YAML, at its line and column."""
        path, line, column = self.marks.get((node, parameter), (self.source, None, None))
        return ConfigError(f"nodes.{node}.parameters.{message}", path=path, line=line, column=column)


# ---- where the package's files are ------------------------------------------------------------
def share_dir() -> Path:
    """The package's share folder, holding launch/ and config/ (see the module docstring)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, OSError, ValueError):
        pass  # no ament index, AMENT_PREFIX_PATH unset, or the package is not in it
    for candidate in (Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / PACKAGE):
        if (candidate / "config").is_dir():
            return candidate
    raise ConfigError(f"cannot find the {PACKAGE} share folder (launch/, config/): build it with colcon and "
                      f"source install/setup.bash, or install ros2_ws/src/{PACKAGE} with pip")


def default_graph_path(name: str = "rollout_sim") -> Path:
    """$ROBOALIGN_GRAPH, else config/<name>.yaml of the package's share folder."""
    env = os.environ.get("ROBOALIGN_GRAPH")
    if env:
        return Path(env)
    return share_dir() / "config" / f"{name}.yaml"


# ---- reading and validating ---------------------------------------------------------------------
def _check_param(node: str, key: str, value: Any, fail) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and value and all(isinstance(v, _SCALARS) for v in value):
        if len({type(v) for v in value}) == 1:
            return
    raise fail(f"must be a scalar or a non-empty list of one type (a ROS parameter), got {value!r}")


def _resolve_file(name: str, graph_file: Path, fail) -> Path:
    """A file a graph names (fastdds_profile, base). Relative: beside the graph YAML, else the
    package's config/ (so a graph copied elsewhere to change a parameter keeps its transport
    settings and its base)."""
    path = Path(name).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [graph_file.parent / path]
        try:
            candidates.append(share_dir() / "config" / path)
        except ConfigError:
            pass
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise fail(f"{name} not found (looked in {', '.join(str(c.parent) for c in candidates)}); "
               "give an absolute path or remove the key")


def _check_keys(mapping: dict, valid: tuple[str, ...], keypath: tuple, located) -> None:
    """An unknown key is refused at its own line, naming the closest valid one."""
    for key in mapping:
        if key not in valid:
            try:
                check_keys([key], valid)
            except ConfigError as exc:
                raise located.error((*keypath, key), exc.message.partition(": ")[2]) from None


def load_graph(path: str | Path | None = None) -> GraphSpec:
    """Read and validate a graph YAML (and the graphs it builds on through `base:`); every
    mistake is a ConfigError at its file:line:column."""
    return _load(Path(path) if path is not None else default_graph_path(), ())


def _node_spec(raw: Any, keypath: tuple, located, path: Path, marks: dict) -> NodeSpec:
    if not isinstance(raw, dict):
        raise located.error(keypath, "each node must be a mapping")
    _check_keys(raw, _NODE_KEYS, keypath, located)
    missing = [k for k in _REQUIRED_NODE_KEYS if k not in raw]
    if missing:
        raise located.error(keypath, f"lacks {', '.join(missing)}")
    name = str(raw["name"])
    if ":" not in str(raw["class"]):
        raise located.error((*keypath, "class"), f"node {name!r}: class must look like 'module:Class'")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise located.error((*keypath, "parameters"), "must be a mapping of parameter names to values")
    _check_params(name, params, (*keypath, "parameters"), located, path, marks)
    remaps = raw.get("remappings") or {}
    if not isinstance(remaps, dict):
        raise located.error((*keypath, "remappings"), "must be a mapping of topic -> topic")
    return NodeSpec(name=name, package=str(raw["package"]), executable=str(raw["executable"]),
                    node_class=str(raw["class"]), executor=str(raw.get("executor", "main")),
                    parameters=dict(params), remappings={str(k): str(v) for k, v in remaps.items()})


def _check_params(node: str, params: dict, keypath: tuple, located, path: Path, marks: dict) -> None:
    for key, value in params.items():
        where = (*keypath, key)
        _check_param(node, key, value, lambda message, where=where: located.error(where, message))
        mark = located.marks.get(where)
        if mark is not None:
            marks[(node, str(key))] = (path, *mark)


def _overlay(data: dict, key: str, nodes: dict[str, NodeSpec], located, path: Path, marks: dict) -> None:
    """`parameters:` / `remappings:` of a graph with a base: node name -> mapping merged over it."""
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise located.error((key,), f"must map node names to {key}")
    for name in section:
        if name not in nodes:
            close = difflib.get_close_matches(str(name), list(nodes), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise located.error((key, name), f"no node of that name in this graph or its base; {hint}"
                                             f"nodes: {', '.join(nodes)}")
    for name, values in section.items():
        if not isinstance(values, dict):
            raise located.error((key, name), f"must be a mapping of {'parameter names to values' if key == 'parameters' else 'topic -> topic'}")
        node = nodes[name]
        if key == "parameters":
            _check_params(name, values, (key, name), located, path, marks)
            nodes[name] = dataclasses.replace(node, parameters={**node.parameters, **values})
        else:
            nodes[name] = dataclasses.replace(node, remappings={**node.remappings, **{str(k): str(v) for k, v in values.items()}})


def _load(path: Path, chain: tuple[Path, ...]) -> GraphSpec:
    if not path.is_file():
        raise ConfigError("node graph not found (pass --graph PATH or set ROBOALIGN_GRAPH)"
                          if not path.exists() else "node graph is not a file", path=path)
    data, located = read_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise located.error((), "a node graph is a mapping with a 'nodes' list")
    _check_keys(data, _GRAPH_KEYS, (), located)
    base = None
    if data.get("base"):
        base_path = _resolve_file(str(data["base"]), path, lambda message: located.error(("base",), message))
        if base_path in chain or path.resolve() == base_path or len(chain) >= MAX_BASE_DEPTH:
            raise located.error(("base",), f"{data['base']}: graphs build on each other in a loop (or more than "
                                           f"{MAX_BASE_DEPTH} deep)")
        base = _load(base_path, (*chain, path.resolve()))
    elif data.get("parameters") or data.get("remappings"):
        raise located.error(("parameters" if data.get("parameters") else "remappings",),
                            "only a graph with a base changes other nodes' settings; put them in the node itself")
    own = data.get("nodes", [] if base is not None else None)
    if not isinstance(own, list) or (base is None and not own):
        raise located.error(("nodes",), "needs a non-empty 'nodes' list" if base is None else "must be a list of nodes")
    marks = dict(base.marks) if base is not None else {}
    parsed = [_node_spec(raw, ("nodes", i), located, path, marks) for i, raw in enumerate(own)]
    names = [n.name for n in parsed]
    if len(set(names)) != len(names):
        raise located.error(("nodes",), f"node names must be unique, got {names}")
    nodes = {n.name: n for n in (base.nodes if base is not None else ())}
    for node in parsed:  # a node of the base's name replaces it (its marks too)
        if node.name in nodes:
            marks = {k: v for k, v in marks.items() if k[0] != node.name or v[0] == path}
        nodes[node.name] = node
    if base is not None:
        _overlay(data, "parameters", nodes, located, path, marks)
        _overlay(data, "remappings", nodes, located, path, marks)
    profile = data.get("fastdds_profile")
    profile_path = base.fastdds_profile if base is not None else None
    if profile:
        profile_path = _resolve_file(str(profile), path, lambda message: located.error(("fastdds_profile",), message))
    return GraphSpec(name=str(data.get("graph", path.stem)), nodes=tuple(nodes.values()), fastdds_profile=profile_path,
                     source=path, marks=marks)


# ---- launch -------------------------------------------------------------------------------------
def profile_environment(profile: Path | None, environ: Any) -> dict[str, str]:
    """Environment a process running a graph with this Fast DDS profile (GraphSpec.fastdds_profile)
    should set: the profile file (its large shared-memory segment carries camera images), unless
    `environ` already names one (the user's own wins). Used by the launch files and the runner."""
    if profile is None or "FASTDDS_DEFAULT_PROFILES_FILE" in environ:
        return {}
    return {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}


def launch_node_arguments(graph: GraphSpec, overrides: dict[str, dict[str, Any]] | None = None) -> list[dict]:
    """launch_ros.actions.Node keyword arguments for every node of `graph`, with `overrides`
    (node name -> parameters) merged over its parameters. "managed" says whether the node is a
    lifecycle node (launch it as launch_ros.actions.LifecycleNode; pop the key first)."""
    out = []
    for node in graph.nodes:
        out.append({
            "package": node.package,
            "executable": node.executable,
            "name": node.name,
            "parameters": [{**node.parameters, **(overrides or {}).get(node.name, {})}],
            "remappings": list(node.remappings.items()),
            "output": "screen",
            "managed": node.node_class in MANAGED_NODES,
        })
    return out
