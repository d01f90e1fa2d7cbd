"""Parameter declaration with descriptors and ranges, the robot spec source, and a node main().

Every limit and timeout of a node is a parameter with a safe default and a documented range,
so it shows up in `ros2 param describe` and a YAML typo fails loudly (a value outside its
range is refused by rclpy at start-up).
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from roboalign.core.robot import RobotSpec

_ARRAY_TYPES = {str: ParameterType.PARAMETER_STRING_ARRAY, float: ParameterType.PARAMETER_DOUBLE_ARRAY,
                int: ParameterType.PARAMETER_INTEGER_ARRAY}


def declare(node: Node, name: str, default: Any, description: str, *, low: float | None = None,
            high: float | None = None, element: type = str, read_only: bool = False) -> Any:
    """Declare one parameter and return its value. low/high: inclusive range (numbers only);
    element: element type of a list default (an empty list says nothing about its type)."""
    desc = ParameterDescriptor(description=description, read_only=read_only)
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
    elif isinstance(default, str):
        desc.type = ParameterType.PARAMETER_STRING
    elif isinstance(default, (list, tuple)):
        desc.type = _ARRAY_TYPES[element]
        default = list(default)
    return node.declare_parameter(name, default, desc).value


def load_robot_spec(source: str) -> RobotSpec:
    """"sim" -> the MuJoCo sim arm's spec; anything else is a RobotSpec YAML path."""
    if source == "sim":
        from roboalign.sim.arm import sim_robot_spec  # lazy: pulls in mujoco

        return sim_robot_spec()
    return RobotSpec.load(source)


def spin_node(node_class: type, args: Sequence[str] | None = None) -> int:
    """console_scripts main: init, spin one node on a SingleThreadedExecutor, clean shutdown."""
    rclpy.init(args=list(sys.argv if args is None else args))
    node = None
    try:
        node = node_class()
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
