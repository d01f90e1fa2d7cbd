"""Keyboard teleop: key characters -> a twist, from a terminal or from key events another
program forwards (the operator console, the teleop node's /teleop/keys topic).

Each press of a mapped key commands its axis for press_s seconds; keys held together add up
(i + u: forward and up). A terminal repeats a held key (about every 30 ms after an initial
delay of 250-600 ms), which refreshes the press, so a held key moves smoothly once the repeat
starts; releasing it stops the motion press_s later at the latest, or at once with the stop key.

KeyboardTeleop.press(char, now) is the whole parser; TerminalKeyReader puts a terminal into raw
mode (roboalign.control.estop_input.TerminalKeys) and feeds it. Layout (configs/teleop/keyboard.yaml):

    i / k  +x / -x      u / o  +z / -z      j / l  +y / -y        (base frame, like teleop_twist_keyboard)
    U / O  roll +/-     I / K  pitch +/-    J / L  yaw +/-        (shift: rotations)
    [ / ]  gripper open / close             h      stop now
"""
from __future__ import annotations

import os
import select

import numpy as np

from roboalign.teleop.config import KeyboardConfig
from roboalign.teleop.input import TeleopInput, Twist


class KeyboardTeleop:
    def __init__(self, config: KeyboardConfig | None = None) -> None:
        self.config = config or KeyboardConfig()
        self._pressed: dict[str, float] = {}  # key -> monotonic s of its last press
        self._last: float | None = None       # last press of any mapped key

    def handles(self, char: str) -> bool:
        c = self.config
        return char in c.linear or char in c.angular or char in (c.gripper_open, c.gripper_close, c.stop)

    def press(self, char: str, now: float) -> bool:
        """One key event; True when the key is a teleop key."""
        if not self.handles(char):
            return False
        if char == self.config.stop:
            self._pressed.clear()
            self._last = None
        else:
            self._pressed[char] = now
            self._last = now
        return True

    def feed(self, data: bytes | str, now: float) -> int:
        """Every character of a terminal read (escape sequences ignored); returns how many were teleop keys."""
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        if "\x1b" in text:  # arrow keys and the like: not part of the layout
            text = text.split("\x1b", 1)[0]
        return sum(self.press(ch, now) for ch in text)

    def read(self, now: float) -> TeleopInput:
        c = self.config
        live = {k for k, t in self._pressed.items() if 0.0 <= now - t <= c.press_s}
        linear, angular = np.zeros(3), np.zeros(3)
        for key in live:
            if key in c.linear:
                linear += c.linear[key]
            elif key in c.angular:
                angular += c.angular[key]
        gripper = float((c.gripper_close in live) - (c.gripper_open in live))
        if not live:
            return TeleopInput(twist=Twist.zero(), stamp=None)
        return TeleopInput(twist=Twist(linear, angular), gripper=gripper, stamp=max(self._pressed[k] for k in live))


class TerminalKeyReader:
    """A terminal (an open tty fd) in raw mode; read() returns the characters typed. The
    terminal's settings are restored on close()."""

    def __init__(self, fd: int) -> None:
        from roboalign.control.estop_input import TerminalKeys  # raw-mode set-up and restore

        self._terminal = TerminalKeys(fd)
        self.fd = fd

    def read(self, timeout: float) -> str:
        """Wait up to timeout s; the characters typed ("" when none). EOFError: the terminal closed."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        if not data:
            raise EOFError("terminal closed")
        return data.decode("latin-1")

    def close(self) -> None:
        self._terminal.close()
