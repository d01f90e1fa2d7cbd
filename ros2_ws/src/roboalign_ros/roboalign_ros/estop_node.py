"""estop_node: a software e-stop in a terminal, on a key device (foot pedal) or a gamepad.

  /safety/estop   (Bool, reliable + transient_local)   out: the e-stop state, repeated at rate_hz
                                                            (the heartbeat the safety node watches)
  /safety/reset   (std_srvs/Trigger, client)           asked after a release

Keys (terminal): space or e = e-stop; r = release and reset; q or Ctrl-C = quit. A key device
(input:=evdev, device:=/dev/input/by-id/...-event-kbd) or a gamepad (input:=gamepad, pygame
installed) maps its keys/buttons the same way (estop_codes/reset_codes, estop_buttons/
reset_buttons). The e-stop is published the moment the key is read, from the input thread.

Fail closed: quitting, a closed terminal or an unplugged device asserts the e-stop, stops the
heartbeat and ends the node (exit 1 when the input was lost); the safety node then stays
latched until an e-stop source is back and someone resets. A reset is only a request: the
safety node refuses it while anything still asserts the e-stop, and a reset never moves the
arm by itself. The hardware e-stop stays the real one.

The release and the reset request travel on different DDS entities, so the reset is asked
reset_delay seconds after the release was published (the safety node must have seen it).
"""
from __future__ import annotations

import os
import queue
import sys
import threading

from rclpy.duration import Duration
from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from roboalign.control.estop_input import EStopAction, EvdevKeys, GamepadButtons, InputLost, KeyMap, TerminalKeys
from roboalign.errors import ConfigError
from roboalign_ros import qos
from roboalign_ros.params import declare, refuse_undeclared

INPUTS = ("keyboard", "evdev", "gamepad")


class EStopNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("estop", **kwargs)
        kind = declare(self, "input", "keyboard", "keyboard (a terminal), evdev (a key device, e.g. a foot "
                       "pedal) or gamepad (needs pygame)")
        device = declare(self, "device", "", "keyboard: a terminal path (empty = this terminal); "
                         "evdev: /dev/input/event* path")
        rate = declare(self, "rate_hz", 20.0, "heartbeat: /safety/estop repeated at this rate (Hz)", low=2.0, high=1000.0)
        keys = KeyMap(estop=declare(self, "estop_keys", " eE", "terminal keys that assert the e-stop"),
                      reset=declare(self, "reset_keys", "rR", "terminal keys that release it and ask for a reset"))
        estop_codes = declare(self, "estop_codes", [57, 18], "evdev key codes that assert (KEY_SPACE, KEY_E)", element=int)
        reset_codes = declare(self, "reset_codes", [19], "evdev key codes that release and reset (KEY_R)", element=int)
        estop_buttons = declare(self, "estop_buttons", [0], "gamepad buttons that assert", element=int)
        reset_buttons = declare(self, "reset_buttons", [1], "gamepad buttons that release and reset", element=int)
        self.reset_delay = declare(self, "reset_delay", 0.2, "s between publishing a release and asking for "
                                   "the reset", low=0.0, high=5.0)
        self.asserted = declare(self, "start_asserted", False, "start with the e-stop asserted")
        refuse_undeclared(self)
        if kind not in INPUTS:
            raise ConfigError(f"input: must be one of {', '.join(INPUTS)}, got {kind!r}", path="node estop")
        try:
            if kind == "keyboard":
                self.input = TerminalKeys.open(device, keys) if device else TerminalKeys(_terminal_fd(), keys)
            elif kind == "evdev":
                if not device:
                    raise ConfigError("input evdev needs device:=/dev/input/event* (the key device)", path="node estop")
                self.input = EvdevKeys(device, estop_codes, reset_codes)
            else:
                self.input = GamepadButtons(0, estop_buttons, reset_buttons)
        except InputLost as exc:
            raise ConfigError(str(exc), path="node estop") from None
        self.exit_code: int | None = None  # set when the node must end (quit: 0, input lost: 1)
        self._lock = threading.Lock()
        self._actions: queue.SimpleQueue = queue.SimpleQueue()
        self._pub = self.create_publisher(Bool, "/safety/estop", qos.LATCHED)
        self._reset = self.create_client(Trigger, "/safety/reset")
        self._wake = self.create_guard_condition(self._drain)
        self._heartbeat = self.create_timer(1.0 / rate, self._publish)
        self._reset_timer = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="estop-input", daemon=True)
        self._publish()
        self._say(f"e-stop {'ASSERTED' if self.asserted else 'released'} | space/e: E-STOP   r: release + reset   "
                  "q: quit (asserts)")
        self._thread.start()

    # ---- input thread ------------------------------------------------------------------------
    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                actions = self.input.poll(0.05)
            except InputLost as exc:
                self._finish(1, f"e-stop input lost ({exc}): E-STOP asserted, heartbeat stopped")
                return
            for action in actions:
                if action is EStopAction.ESTOP:
                    with self._lock:  # at once, from this thread: an e-stop waits for nothing
                        self.asserted = True
                        self._pub.publish(Bool(data=True))
                    self._say("E-STOP asserted")
                elif action is EStopAction.QUIT:
                    self._finish(0, "quit: E-STOP asserted, heartbeat stopped")
                    return
                else:
                    self._actions.put(action)
                    self._wake.trigger()

    def _finish(self, code: int, message: str) -> None:
        with self._lock:
            self.asserted = True
            self._pub.publish(Bool(data=True))
            self.exit_code = code
        self._say(message)
        self._wake.trigger()

    # ---- executor thread -----------------------------------------------------------------------
    def _publish(self) -> None:
        with self._lock:
            if self.exit_code is None:
                self._pub.publish(Bool(data=self.asserted))

    def _drain(self) -> None:
        while not self._actions.empty():
            if self._actions.get() is EStopAction.RESET:
                self._release_then_reset()
        if self.exit_code is not None:
            raise SystemExit(self.exit_code)  # ends spin; main() turns it into the exit status

    def _release_then_reset(self) -> None:
        with self._lock:
            self.asserted = False
            self._pub.publish(Bool(data=False))
        self._say("e-stop released: asking /safety/reset")
        if self._reset_timer is not None:
            self._reset_timer.cancel()
        self._reset_timer = self.create_timer(max(self.reset_delay, 1e-3), self._ask_reset)

    def _ask_reset(self) -> None:
        self._reset_timer.cancel()
        if not self._reset.service_is_ready():
            self._say("/safety/reset is not available (is the safety node running?)")
            return
        self._reset.call_async(Trigger.Request()).add_done_callback(self._on_reset_answer)

    def _on_reset_answer(self, future) -> None:
        answer = future.result()
        self._say(f"reset {'accepted' if answer.success else 'REFUSED'}: {answer.message}")

    def _say(self, text: str) -> None:
        self.input.write(f"[estop] {text}\n")
        self.get_logger().info(text)

    def close(self) -> None:
        """Leaving (also on SIGINT/SIGTERM): assert first, so the arm never outlives its e-stop."""
        self._stop.set()
        with self._lock:
            self.exit_code = 0 if self.exit_code is None else self.exit_code
            try:
                self._pub.publish(Bool(data=True))
                self._pub.wait_for_all_acked(Duration(seconds=0.5))
            except Exception:  # the context may already be shut down: the lost heartbeat stops the arm
                pass
        self._thread.join(timeout=1.0)
        self.input.close()


def _terminal_fd() -> int:
    """stdin when it is a terminal, else the controlling terminal."""
    if os.isatty(sys.stdin.fileno()):
        return sys.stdin.fileno()
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise InputLost("no terminal: run estop_node in a terminal, or use input:=evdev / gamepad") from None


def main(args=None) -> int:
    from roboalign_ros.params import spin_node

    try:
        code = spin_node(EStopNode, args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
