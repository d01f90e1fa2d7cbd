"""`roboalign console`: the operator console, attached to a running graph.

    roboalign console --domain-id 42                  # what `roboalign record` printed
    roboalign console --teleop-keys                   # also forward teleop keys (keyboard source)

The textual app (roboalign.console.app.OperatorConsole) runs in this terminal; the ROS bridge
(roboalign_ros.console_bridge.ConsoleBridge) spins in a thread on its own rclpy Context on the
given ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else 0, ROS's own default) with DDS kept on this
machine. It finds the graph by its topics: nothing to configure. Leaving asserts the console's
e-stop (it is an e-stop source, like estop_node) unless --no-estop-source.

`roboalign record --console` runs the same console (bridged_console) in its own process, on the
Context of the graph it started.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from roboalign.arguments import int_range
from roboalign.errors import UsageError

MAX_DOMAIN_ID = 232


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("console", help="the operator console of a recording session (attaches to a running graph)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--domain-id", type=int_range(0, MAX_DOMAIN_ID), default=None,
                   help="the graph's ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else 0)")
    p.add_argument("--teleop-keys", action="store_true",
                   help="forward the keyboard teleop keys to /teleop/keys (the teleop node's keyboard source)")
    p.add_argument("--no-estop-source", action="store_true",
                   help="publish /safety/estop only on a key press (no heartbeat, no e-stop on exit)")
    p.set_defaults(func=run_console)


def domain_id(arg: int | None) -> int:
    if arg is not None:
        return arg
    text = os.environ.get("ROS_DOMAIN_ID", "").strip() or "0"
    if not text.isdigit() or int(text) > MAX_DOMAIN_ID:
        raise UsageError(f"ROS_DOMAIN_ID={text!r} is not a domain id 0..{MAX_DOMAIN_ID}; fix it or pass --domain-id")
    return int(text)


def teleop_key_set() -> list[str]:
    from roboalign.teleop.config import KeyboardConfig

    c = KeyboardConfig()
    return [*c.linear, *c.angular, c.gripper_open, c.gripper_close, c.stop]


@contextlib.contextmanager
def bridged_console(context: Any, *, teleop_keys: bool = False, estop_source: bool = True,
                    until: Callable[[], bool] | None = None) -> Iterator[Any]:
    """The operator console (an OperatorConsole, not yet running) wired to a ConsoleBridge node
    spun in a thread of its own on `context` (an initialised rclpy Context). Leaving closes the
    bridge (its e-stop asserted first when it is a source), joins its thread and destroys the
    node; the context stays up for its owner to shut down."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from roboalign.console.app import OperatorConsole
    from roboalign_ros.console_bridge import ConsoleBridge

    updates: queue.SimpleQueue = queue.SimpleQueue()
    bridge = ConsoleBridge(on_status=updates.put, context=context, use_global_arguments=False,
                           parameter_overrides=[Parameter("estop_source", value=estop_source)])
    app = OperatorConsole(on_command=bridge.command, on_estop=bridge.estop,
                          on_teleop_key=bridge.teleop_key if teleop_keys else None,
                          teleop_keys=teleop_key_set() if teleop_keys else (), updates=updates, until=until)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(bridge)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.05)

    thread = threading.Thread(target=spin, name="console-ros", daemon=True)
    thread.start()
    try:
        yield app
    finally:
        bridge.close()
        stop.set()
        thread.join(timeout=2.0)
        executor.shutdown(timeout_sec=1.0)
        bridge.destroy_node()


def run_console(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    context = Context()
    rclpy.init(args=[], context=context, domain_id=domain_id(args.domain_id),
               signal_handler_options=SignalHandlerOptions.NO)
    try:
        with bridged_console(context, teleop_keys=args.teleop_keys, estop_source=not args.no_estop_source) as app:
            app.run()
    finally:
        rclpy.try_shutdown(context=context)
    return 0
