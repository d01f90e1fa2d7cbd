"""A test-side rclpy node in a runner's Context: publish, subscribe, spin until a condition."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class Probe:
    """Spun from the test thread (the runner spins its own nodes in its threads)."""

    def __init__(self, context: Any, name: str = "probe") -> None:
        self.node = Node(name, context=context, use_global_arguments=False)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}

    def subscribe(self, msg_type: type, topic: str, qos: Any) -> list:
        box = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, box.append, qos)
        return box

    def publisher(self, msg_type: type, topic: str, qos: Any):
        return self.node.create_publisher(msg_type, topic, qos)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.01)

    def call(self, srv_type: type, name: str, timeout: float = 5.0):
        client = self.node.create_client(srv_type, name)
        self.spin_until(lambda: client.service_is_ready(), timeout, f"service {name}")
        future = client.call_async(srv_type.Request())
        self.spin_until(future.done, timeout, f"reply of {name}")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
