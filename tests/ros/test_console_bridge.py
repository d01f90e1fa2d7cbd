"""The operator console on a real graph (real rclpy): keys reach /recorder/command, the
recorder's status renders, the e-stop key latches the real safety node, teleop keys reach
/teleop/keys; `roboalign console` registers and refuses a bad domain id in one line."""
from __future__ import annotations

import argparse
import asyncio
import json
import queue
import threading
import time

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("textual")
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String
from textual.widgets import Static

from roboalign.console.app import OperatorConsole
from roboalign.errors import UsageError
from roboalign_ros import console_cli, qos
from roboalign_ros.console_bridge import ConsoleBridge
from roboalign_ros.graph import load_graph, share_dir
from roboalign_ros.runner import GraphRunner


class Recorder:
    """A stand-in recorder node: hears /recorder/command, publishes /recorder/status (latched)."""

    def __init__(self, context) -> None:
        self.node = Node("fake_recorder", context=context, use_global_arguments=False)
        self.commands: list[tuple[float, str]] = []
        self.node.create_subscription(String, "/recorder/command",
                                      lambda m: self.commands.append((time.monotonic(), m.data)), qos.COMMAND)
        self.keys: list[str] = []
        self.node.create_subscription(String, "/teleop/keys", lambda m: self.keys.append(m.data), qos.COMMAND)
        self.status = self.node.create_publisher(String, "/recorder/status", qos.LATCHED)


@pytest.fixture
def graph(ros_domain_id):
    safety = GraphRunner(load_graph(share_dir() / "config" / "teleop_sim.yaml"), only=("safety",),
                         domain_id=ros_domain_id).start()
    context = Context()
    rclpy.init(args=[], context=context, domain_id=ros_domain_id, signal_handler_options=SignalHandlerOptions.NO)
    updates: queue.SimpleQueue = queue.SimpleQueue()
    bridge = ConsoleBridge(on_status=updates.put, context=context, use_global_arguments=False)
    recorder = Recorder(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(bridge)
    executor.add_node(recorder.node)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.02) for _ in iter(stop.is_set, True)],
                              daemon=True)
    thread.start()
    yield bridge, recorder, updates, safety.node("safety")
    bridge.close()
    stop.set()
    thread.join(2.0)
    executor.shutdown(timeout_sec=1.0)
    bridge.destroy_node()
    recorder.node.destroy_node()
    rclpy.try_shutdown(context=context)
    safety.shutdown()


async def wait_for(condition, timeout: float, what: str, pilot) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)


def test_console_keys_reach_the_recorder_and_the_estop_latches_the_safety_node(graph):
    bridge, recorder, updates, safety = graph
    app = OperatorConsole(on_command=bridge.command, on_estop=bridge.estop, on_teleop_key=bridge.teleop_key,
                          teleop_keys=console_cli.teleop_key_set(), updates=updates)

    async def script(pilot):
        await wait_for(lambda: bridge.count_subscribers("/recorder/command") > 0, 10.0, "the recorder", pilot)
        await pilot.press("r")
        await wait_for(lambda: recorder.commands, 5.0, "the start command", pilot)
        latency = recorder.commands[0][0] - app.sent[0][0]
        print(f"\nconsole key -> /recorder/command received: {latency * 1000:.1f} ms")
        await pilot.press("s", "y", "i")
        await wait_for(lambda: len(recorder.commands) == 3 and recorder.keys, 5.0, "stop, success and a key", pilot)
        assert [c for _, c in recorder.commands] == ["start", "stop", "success"] and recorder.keys == ["i"]

        recorder.status.publish(String(data=json.dumps(
            {"state": "recording", "episode_index": 1, "episode_count": 1, "duration_s": 3.5,
             "last_durations_s": [9.0], "dropped_frames": {}, "stream_rates_hz": {"/joint_states": 100.0},
             "output_dir": "d"})))
        await wait_for(lambda: "RECORDING" in str(app.query_one("#recorder", Static).render()), 5.0,
                       "the recorder status on screen", pilot)

        await pilot.press("space")
        await wait_for(lambda: safety.estop_asserted, 5.0, "the safety node's e-stop", pilot)
        await wait_for(lambda: app.status.get("estop_latched"), 5.0, "the latch on screen", pilot)
        await pilot.press("x")
        await wait_for(lambda: not safety.estop_asserted, 5.0, "the release", pilot)

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)
    asyncio.run(main())


def test_roboalign_console_registers_and_refuses_a_bad_domain_id(monkeypatch):
    parser = argparse.ArgumentParser()
    console_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["console", "--domain-id", "7", "--teleop-keys"])
    assert args.func is console_cli.run_console and args.domain_id == 7 and args.teleop_keys
    monkeypatch.setenv("ROS_DOMAIN_ID", "abc")
    with pytest.raises(UsageError, match="not a domain id"):
        console_cli.domain_id(None)
