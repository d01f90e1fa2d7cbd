"""Parameter declaration with descriptors and ranges, the robot spec source, and a node main().

Every limit and timeout of a node is a parameter with a safe default and a documented range,
so it shows up in `ros2 param describe`. Parameters fail closed:

- a value outside its range or of the wrong type is refused at start-up, in one line
  (`declare` turns rclpy's exception into a roboalign ConfigError); an integer given for a
  floating-point parameter (`-p watchdog_timeout:=1`) is taken as that number;
- a parameter the node does not declare (`-p watchdog_timeot:=1`, a misspelt key in a params
  file or in the graph YAML) is refused by name, with the closest declared one
  (`refuse_undeclared`). Each node calls it once it has declared everything; `spin_node` and
  the in-process runner call it again after construction, so no node can skip it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from roboalign.config import check_keys
from roboalign.core.robot import RobotSpec
from roboalign.errors import ConfigError, UsageError

_RCLPY_BUILTINS = ("use_sim_time", "start_type_description_service")  # declared by every rclpy Node
_ARRAY_TYPES = {str: ParameterType.PARAMETER_STRING_ARRAY, float: ParameterType.PARAMETER_DOUBLE_ARRAY,
                int: ParameterType.PARAMETER_INTEGER_ARRAY}
_EMPTY_ARRAYS = {str: Parameter.Type.STRING_ARRAY, float: Parameter.Type.DOUBLE_ARRAY, int: Parameter.Type.INTEGER_ARRAY}


class ParameterError(ConfigError):
    """A parameter given to a node was refused: undeclared (a typo must never fall back to a
    default), of the wrong type, or out of range. `node` and `parameter` let callers point at
    where it was given (the runner: the graph YAML's line, or the --set that gave it)."""

    def __init__(self, node: str, parameter: str, message: str) -> None:
        self.node = node
        self.parameter = parameter
        super().__init__(message, path=f"node {node}")


def _overrides(node: Node) -> dict[str, Parameter]:
    # rclpy keeps the values given for this node (--ros-args -p, params files, the
    # constructor's parameter_overrides) in this dict; it has no public accessor.
    return node._parameter_overrides


def declare(node: Node, name: str, default: Any, description: str, *, low: float | None = None,
            high: float | None = None, element: type = str, read_only: bool = False) -> Any:
    """Declare one parameter and return its value. low/high: inclusive range (numbers only);
    element: element type of a list default (an empty list says nothing about its type).
    A bad override (type, range) raises ParameterError naming the node and the parameter."""
    desc = ParameterDescriptor(description=description, read_only=read_only)
    override = _overrides(node).get(name)
    if isinstance(default, bool):
        desc.type = ParameterType.PARAMETER_BOOL
    elif isinstance(default, int):
        desc.type = ParameterType.PARAMETER_INTEGER
        if low is not None or high is not None:
            desc.integer_range = [IntegerRange(from_value=int(low if low is not None else -2**62),
                                               to_value=int(high if high is not None else 2**62), step=0)]
    elif isinstance(default, float):
        desc.type = ParameterType.PARAMETER_DOUBLE
        if low is not None or high is not None:
            desc.floating_point_range = [FloatingPointRange(from_value=float(low if low is not None else -1e300),
                                                            to_value=float(high if high is not None else 1e300),
                                                            step=0.0)]
        if override is not None and override.type_ == Parameter.Type.INTEGER:
            _overrides(node)[name] = Parameter(name, value=float(override.value))  # `:=1` means 1.0 s
    elif isinstance(default, str):
        desc.type = ParameterType.PARAMETER_STRING
    elif isinstance(default, (list, tuple)):
        desc.type = _ARRAY_TYPES[element]
        default = list(default)
        if element is float and override is not None and override.type_ == Parameter.Type.INTEGER_ARRAY:
            _overrides(node)[name] = Parameter(name, value=[float(v) for v in override.value])
    # An empty list says nothing about its type to rclpy: declare it by type (value None when not given).
    empty = isinstance(default, list) and not default
    try:
        value = node.declare_parameter(name, _EMPTY_ARRAYS[element] if empty else default, desc).value
        return [] if empty and value is None else value
    except InvalidParameterTypeException:
        given = _overrides(node)[name].value
        raise ParameterError(node.get_name(), name, f"{name}: expected {_type_name(default, element)}, "
                             f"got {given!r} ({description})") from None
    except InvalidParameterValueException:
        given = _overrides(node)[name].value
        bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else (
            f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ParameterError(node.get_name(), name, f"{name}: must be {bounds}, got {given!r} ({description})") from None
    except ParameterException as exc:
        raise ParameterError(node.get_name(), name, f"{name}: refused: {exc}") from None


def _type_name(default: Any, element: type) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    return f"a list of {element.__name__}"


def refuse_undeclared(node: Node) -> None:
    """Raise ParameterError for the first parameter given to `node` that it does not
    declare, naming the closest declared one. Call after the node declared everything."""
    declared = [name for name in node._parameters if name not in _RCLPY_BUILTINS]
    for name in _overrides(node):
        if not node.has_parameter(name):
            try:
                check_keys([name], declared)
            except ConfigError as exc:
                message = exc.message.replace("unknown key", "not a parameter of this node")
                raise ParameterError(node.get_name(), name, message.replace("valid keys", "declared")) from None


def load_robot_spec(source: str) -> RobotSpec:
    """"sim" -> the MuJoCo sim arm's spec; anything else is a RobotSpec YAML path.
    A missing or malformed file is a ConfigError (one line)."""
    if source == "sim":
        from roboalign.sim.arm import sim_robot_spec  # lazy: pulls in mujoco

        return sim_robot_spec()
    try:
        return RobotSpec.load(source)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"robot: {exc}", path=source) from None


def spin_node(node_class: type, args: Sequence[str] | None = None) -> int:
    """console_scripts main: init, spin one node on a SingleThreadedExecutor, clean shutdown.

    A node that cannot start (a parameter refused, a missing robot file) prints one line on
    stderr and exits 2; ROBOALIGN_DEBUG=1 shows the traceback instead."""
    rclpy.init(args=list(sys.argv if args is None else args))
    node = None
    module = getattr(node_class, "__module__", "node")  # e.g. roboalign_ros.safety_node -> safety_node
    prog = Path(sys.argv[0]).stem if module == "__main__" else module.rpartition(".")[2]
    try:
        try:
            node = node_class()
            refuse_undeclared(node)
        except (UsageError, ParameterException, ValueError, OSError) as exc:  # a start-up mistake
            if os.environ.get("ROBOALIGN_DEBUG"):
                raise
            print(f"{prog}: {exc}", file=sys.stderr, flush=True)
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
