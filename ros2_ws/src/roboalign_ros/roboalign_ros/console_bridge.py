"""console_bridge: the operator console's link to a running graph (no UI here: the textual app
is roboalign.console.app.OperatorConsole, started by `roboalign console`).

  /recorder/status   (String JSON, reliable + transient_local)  in  -> status["recorder"]
  /task/instruction  (String, latched)                          in  -> status["instruction"]
  /safety/state      (DiagnosticArray)                          in  -> status["safety"], ["estop_latched"]
  /safety/stopped    (Bool, latched)                            in  -> status["safety_stopped"]
  /teleop/state      (String JSON)                              in  -> status["teleop"]
  /recorder/command  (String, reliable)                         out: start | stop | discard | success | failure
  /teleop/keys       (String, reliable)                         out: teleop keys (keyboard source)
  /safety/estop      (Bool, reliable + transient_local)         out: this console's e-stop
  /safety/reset      (std_srvs/Trigger, client)                 asked reset_delay s after a release

E-stop, as estop_node does it: the console is an e-stop source on /safety/estop that repeats its
state at estop_rate_hz (the heartbeat a real-robot safety node requires). space/e publish True
at once; x publishes False and then asks /safety/reset (the safety node refuses while another
source still asserts; a reset never moves the arm). Closing the console asserts the e-stop
first, so the arm never outlives the operator's view of it (fail closed, like estop_node).
With estop_source false the console publishes only when a key is pressed (no heartbeat).

`on_status(update)` is called from the spin thread with each partial status update; the
console puts it on the app's update queue (never blocking the spin thread).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from roboalign.console.app import RECORDER_COMMANDS
from roboalign_ros import qos
from roboalign_ros.params import declare, refuse_undeclared, spin_node

COMMANDS = frozenset(RECORDER_COMMANDS.values())


class ConsoleBridge(Node):
    def __init__(self, on_status: Callable[[dict[str, Any]], None] | None = None, **kwargs) -> None:
        super().__init__("console", **kwargs)
        self.estop_source = declare(self, "estop_source", True, "repeat this console's e-stop state on "
                                    "/safety/estop (a heartbeat source, as estop_node)")
        rate = declare(self, "estop_rate_hz", 20.0, "heartbeat rate of /safety/estop (Hz)", low=2.0, high=1000.0)
        self.reset_delay = declare(self, "reset_delay", 0.2, "s between a release and the reset request",
                                   low=0.0, high=5.0)
        refuse_undeclared(self)
        self.on_status = on_status or (lambda update: None)
        self.asserted = False
        self.sent: list[tuple[float, str]] = []  # (monotonic s, what) published, for latency checks
        self._lock = threading.Lock()
        self._reset_at: float | None = None
        self._recorder_seen: float | None = None
        self._command_pub = self.create_publisher(String, "/recorder/command", qos.COMMAND)
        self._keys_pub = self.create_publisher(String, "/teleop/keys", qos.COMMAND)
        self._estop_pub = self.create_publisher(Bool, "/safety/estop", qos.LATCHED)
        self._reset = self.create_client(Trigger, "/safety/reset")
        self.create_subscription(String, "/recorder/status", self._on_recorder, qos.LATCHED)
        self.create_subscription(String, "/task/instruction", lambda m: self.on_status({"instruction": m.data}), qos.LATCHED)
        self.create_subscription(DiagnosticArray, "/safety/state", self._on_safety, qos.STATE)
        self.create_subscription(Bool, "/safety/stopped", lambda m: self.on_status({"safety_stopped": bool(m.data)}),
                                 qos.LATCHED)
        self.create_subscription(String, "/teleop/state", self._on_teleop, qos.STATE)
        self.create_timer(1.0 / rate, self._on_timer)
        if self.estop_source:
            self._estop_pub.publish(Bool(data=False))

    # ---- from the console (any thread) --------------------------------------------------------
    def command(self, command: str) -> None:
        if command not in COMMANDS:
            raise ValueError(f"unknown recorder command {command!r}; valid: {', '.join(sorted(COMMANDS))}")
        self._command_pub.publish(String(data=command))
        self.sent.append((time.monotonic(), command))

    def teleop_key(self, char: str) -> None:
        self._keys_pub.publish(String(data=char))
        self.sent.append((time.monotonic(), f"teleop:{char}"))

    def estop(self, asserted: bool) -> None:
        """True: assert now. False: release, then ask the safety node to reset."""
        with self._lock:
            self.asserted = bool(asserted)
            self._estop_pub.publish(Bool(data=self.asserted))
            self._reset_at = None if asserted else time.monotonic() + self.reset_delay
        self.sent.append((time.monotonic(), "estop" if asserted else "release"))
        self.on_status({"estop": self.asserted})

    # ---- the graph's state --------------------------------------------------------------------
    def _on_recorder(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
        except ValueError:
            self.get_logger().warning("unreadable /recorder/status (not JSON)", throttle_duration_sec=5.0)
            return
        self._recorder_seen = time.monotonic()
        self.on_status({"recorder": status, "recorder_age_s": 0.0})

    def _on_safety(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            self.on_status({"safety": values.get("state", status.message),
                            "estop_latched": values.get("estop_latched") == "True",
                            "safety_message": status.message})

    def _on_teleop(self, msg: String) -> None:
        try:
            self.on_status({"teleop": json.loads(msg.data)})
        except ValueError:
            pass

    def _on_timer(self) -> None:
        with self._lock:
            if self.estop_source:
                self._estop_pub.publish(Bool(data=self.asserted))
            due = self._reset_at is not None and time.monotonic() >= self._reset_at
            if due:
                self._reset_at = None
        if due:
            self._ask_reset()
        if self._recorder_seen is not None:
            self.on_status({"recorder_age_s": time.monotonic() - self._recorder_seen})

    def _ask_reset(self) -> None:
        if not self._reset.service_is_ready():
            self.on_status({"safety_message": "/safety/reset is not available (is the safety node running?)"})
            return
        future = self._reset.call_async(Trigger.Request())
        future.add_done_callback(lambda f: self.on_status(
            {"safety_message": f"reset {'accepted' if f.result().success else 'REFUSED'}: {f.result().message}"}))

    def close(self) -> None:
        """Leaving: assert the e-stop first when this console is an e-stop source."""
        if not self.estop_source:
            return
        with self._lock:
            self.asserted = True
            try:
                self._estop_pub.publish(Bool(data=True))
                self._estop_pub.wait_for_all_acked(Duration(seconds=0.5))
            except Exception:  # the context may be shut down already: the lost heartbeat stops the arm
                pass


def main(args=None) -> int:
    """The bridge alone (no UI): a headless e-stop source and status relay; `roboalign console` is the UI."""
    return spin_node(ConsoleBridge, args)


if __name__ == "__main__":
    raise SystemExit(main())
