"""Software e-stop inputs: a keyboard in a terminal, any key device (a USB foot pedal is a
keyboard with one key), or a gamepad. Each turns presses into EStopActions; the estop node
(roboalign_ros.estop_node) publishes the result. No ROS here.

- TerminalKeys: a terminal (the controlling one, or a serial/pty path) in termios raw mode, so
  every key arrives at once without Enter and Ctrl-C is a key like any other; output keeps
  its newline translation so status lines still print cleanly. The terminal's settings are
  restored on close().
- EvdevKeys: a Linux input device (/dev/input/event*, e.g. /dev/input/by-id/...-event-kbd of a
  foot pedal), read as raw `struct input_event` records: works whichever window has focus.
- GamepadButtons: a joystick through pygame, only if pygame is installed (not a dependency).

Every source raises InputLost when it can no longer read (terminal closed, device unplugged):
an e-stop input that cannot be read must stop the arm, never be ignored.
"""
from __future__ import annotations

import dataclasses
import enum
import os
import select
import struct
import termios
import tty
from collections.abc import Sequence


class EStopAction(str, enum.Enum):
    ESTOP = "estop"    # assert the e-stop
    RESET = "reset"    # release the e-stop, then ask the safety node to reset
    QUIT = "quit"      # leave (asserting the e-stop first: no input, no motion)


class InputLost(RuntimeError):
    """The input device can no longer be read."""


@dataclasses.dataclass(frozen=True)
class KeyMap:
    """Which characters (terminal) do what. Ctrl-C (\\x03) always quits."""

    estop: str = " eE"
    reset: str = "rR"
    quit: str = "q\x03"

    def actions(self, data: bytes) -> list[EStopAction]:
        out = []
        for char in data.decode("latin-1"):
            if char in self.estop:
                out.append(EStopAction.ESTOP)
            elif char in self.reset:
                out.append(EStopAction.RESET)
            elif char in self.quit or char == "\x03":
                out.append(EStopAction.QUIT)
        return out


class TerminalKeys:
    """Keys of a terminal in raw mode. fd: an open terminal file descriptor."""

    def __init__(self, fd: int, keymap: KeyMap | None = None) -> None:
        if not os.isatty(fd):
            raise InputLost(f"file descriptor {fd} is not a terminal: run estop_node in a terminal "
                            "(or give device:=/dev/input/event* for a key device)")
        self.fd = fd
        self.keymap = keymap or KeyMap()
        self._saved = termios.tcgetattr(fd)
        tty.setraw(fd, termios.TCSANOW)
        mode = termios.tcgetattr(fd)
        mode[1] |= termios.OPOST | termios.ONLCR  # keep "\n" -> "\r\n" for status lines
        termios.tcsetattr(fd, termios.TCSANOW, mode)

    @classmethod
    def open(cls, path: str, keymap: KeyMap | None = None) -> TerminalKeys:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            return cls(fd, keymap)
        except BaseException:
            os.close(fd)
            raise

    def poll(self, timeout: float) -> list[EStopAction]:
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return []
            data = os.read(self.fd, 64)
        except OSError as exc:  # EIO: the terminal hung up
            raise InputLost(f"terminal read failed: {exc}") from None
        if not data:
            raise InputLost("terminal closed (end of input)")
        return self.keymap.actions(data)

    def write(self, text: str) -> None:
        try:
            os.write(self.fd, text.encode())
        except OSError:
            pass  # a status line that cannot be shown must not stop the e-stop

    def close(self) -> None:
        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        except termios.error:
            pass  # the terminal is gone: nothing to restore


# struct input_event on 64-bit Linux: struct timeval (two longs), __u16 type, __u16 code, __s32 value
_EVENT = struct.Struct("llHHi")
EV_KEY = 1
KEY_E, KEY_R, KEY_SPACE, KEY_Q = 18, 19, 57, 16  # linux/input-event-codes.h


class EvdevKeys:
    """Key presses of a Linux input device (value 1 = press; repeats and releases ignored)."""

    def __init__(self, path: str, estop_codes: Sequence[int] = (KEY_SPACE, KEY_E),
                 reset_codes: Sequence[int] = (KEY_R,)) -> None:
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise InputLost(f"cannot open key device {path}: {exc.strerror} (is the user in group 'input'?)") from None
        self.path = path
        self.estop_codes, self.reset_codes = frozenset(estop_codes), frozenset(reset_codes)
        self._buffer = b""

    def poll(self, timeout: float) -> list[EStopAction]:
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return []
            data = os.read(self.fd, _EVENT.size * 64)
        except BlockingIOError:
            return []
        except OSError as exc:  # ENODEV: unplugged
            raise InputLost(f"key device {self.path} failed: {exc.strerror}") from None
        if not data:
            raise InputLost(f"key device {self.path} closed")
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % _EVENT.size
        events, self._buffer = self._buffer[:whole], self._buffer[whole:]
        out = []
        for _, _, kind, code, value in _EVENT.iter_unpack(events):
            if kind != EV_KEY or value != 1:
                continue
            if code in self.estop_codes:
                out.append(EStopAction.ESTOP)
            elif code in self.reset_codes:
                out.append(EStopAction.RESET)
        return out

    def write(self, text: str) -> None:
        pass  # a key device has no screen

    def close(self) -> None:
        os.close(self.fd)


class GamepadButtons:
    """Button presses of a gamepad, through pygame (installed separately: pip install pygame)."""

    def __init__(self, index: int = 0, estop_buttons: Sequence[int] = (0,), reset_buttons: Sequence[int] = (1,)) -> None:
        try:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window needed for joystick events
            import pygame
        except ImportError:
            raise InputLost("the gamepad input needs pygame, which is not installed: pip install pygame") from None
        self.pygame = pygame
        pygame.display.init()
        pygame.joystick.init()
        if pygame.joystick.get_count() <= index:
            raise InputLost(f"no gamepad #{index} ({pygame.joystick.get_count()} connected)")
        self.stick = pygame.joystick.Joystick(index)
        self.estop_buttons, self.reset_buttons = frozenset(estop_buttons), frozenset(reset_buttons)

    def poll(self, timeout: float) -> list[EStopAction]:
        pygame = self.pygame
        event = pygame.event.wait(int(timeout * 1000))
        events = [event] + pygame.event.get()
        out = []
        for ev in events:
            if ev.type == pygame.JOYDEVICEREMOVED:
                raise InputLost("gamepad disconnected")
            if ev.type == pygame.JOYBUTTONDOWN:
                if ev.button in self.estop_buttons:
                    out.append(EStopAction.ESTOP)
                elif ev.button in self.reset_buttons:
                    out.append(EStopAction.RESET)
        return out

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.pygame.quit()
