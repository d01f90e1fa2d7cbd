"""DriverStop: asks the arm driver to stop (its std_srvs/Trigger service), without ever waiting.

The safety node stops the arm through its own command stream; a driver that has a stop service
(a ros2_control hardware interface's halt, a vendor driver's stop) is told as well, so the arm
stops even if the command path behind the safety node is what failed. Calls are asynchronous:
the control path never waits for the driver. A stop requested while the service is not up is
kept owed and sent as soon as it appears (retry() on each control tick: a cheap readiness
check). Every outcome is counted and logged.
"""
from __future__ import annotations

from rclpy.node import Node
from std_srvs.srv import Trigger


class DriverStop:
    def __init__(self, node: Node, service: str) -> None:
        self.node = node
        self.service = service
        self.client = node.create_client(Trigger, service)
        self.counts = {"driver_stop_requested": 0, "driver_stop_sent": 0, "driver_stop_ok": 0,
                       "driver_stop_failed": 0}
        self._owed: str | None = None   # the reason of a stop not yet sent (service not up)

    def request(self, reason: str) -> None:
        """Ask the driver to stop now (asynchronously); `reason` goes into the log."""
        self.counts["driver_stop_requested"] += 1
        self._owed = reason
        if not self._send():
            self.node.get_logger().error(f"driver stop service {self.service} is not available: "
                                         f"will call it once it appears ({reason})")

    def cancel(self) -> None:
        """The stop is over (reset/recovery): a stop not sent yet is no longer owed."""
        self._owed = None

    def retry(self) -> None:
        if self._owed is not None:
            self._send()

    def _send(self) -> bool:
        if not self.client.service_is_ready():
            return False
        reason, self._owed = self._owed, None
        self.counts["driver_stop_sent"] += 1
        future = self.client.call_async(Trigger.Request())
        future.add_done_callback(lambda f, reason=reason: self._done(f, reason))
        return True

    def _done(self, future, reason: str) -> None:
        log = self.node.get_logger()
        try:
            answer = future.result()
        except Exception as exc:  # the call itself failed (service gone mid-call)
            answer, error = None, str(exc)
        else:
            error = "" if answer is not None and answer.success else (answer.message if answer else "no answer")
        if answer is not None and answer.success:
            self.counts["driver_stop_ok"] += 1
            log.info(f"driver stop {self.service}: ok ({answer.message or reason})")
        else:
            self.counts["driver_stop_failed"] += 1
            log.error(f"driver stop {self.service} failed: {error} (stop reason: {reason})")
