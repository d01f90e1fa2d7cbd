"""Gamepad teleop through pygame's joystick API (pygame 2.6, SDL's dummy video driver: no
window, runs headless).

State follows pygame's events (JOYAXISMOTION, JOYBUTTONDOWN/UP, JOYDEVICEADDED/REMOVED), so
the parser works the same on a real pad and on events a test posts with pygame.event.post.
Mapping (configs/teleop/gamepad.yaml, Xbox layout by default): left stick = x/y, right stick
vertical = z, right stick horizontal = yaw; hold the left bumper (enable_button) to move: the
bumper is the deadman switch; A/B close/open the gripper. An unplugged pad raises
InputLost, and the controller holds the arm (no input).
"""
from __future__ import annotations

import os

import numpy as np

from roboalign.control.estop_input import InputLost
from roboalign.teleop.config import TWIST_KEYS, GamepadConfig
from roboalign.teleop.input import TeleopInput, Twist


def init_pygame():
    """pygame with the dummy video driver and the joystick subsystem (no window, no display)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError:
        raise InputLost("the gamepad source needs pygame: pip install pygame") from None
    pygame.display.init()
    pygame.joystick.init()
    return pygame


class GamepadState:
    """Axes and buttons of one joystick (instance id), updated from pygame events."""

    def __init__(self, config: GamepadConfig, instance_id: int | None = None) -> None:
        self.config = config
        self.instance_id = instance_id
        self.axes: dict[int, float] = {}
        self.buttons: set[int] = set()
        self.connected = True
        self.last_event: float | None = None

    def handle(self, event, pygame, now: float) -> None:
        iid = getattr(event, "instance_id", None)
        if self.instance_id is not None and iid is not None and iid != self.instance_id:
            return  # another pad
        if event.type == pygame.JOYAXISMOTION:
            self.axes[event.axis] = float(event.value)
        elif event.type == pygame.JOYBUTTONDOWN:
            self.buttons.add(event.button)
        elif event.type == pygame.JOYBUTTONUP:
            self.buttons.discard(event.button)
        elif event.type == pygame.JOYDEVICEREMOVED:
            self.connected = False
            self.axes.clear()
            self.buttons.clear()
        else:
            return
        self.last_event = now

    def read(self, now: float) -> TeleopInput:
        c = self.config
        if not self.connected:
            return TeleopInput()
        values = dict.fromkeys(TWIST_KEYS, 0.0)
        for key, (axis, sign) in c.axes.items():
            raw = self.axes.get(axis, 0.0)
            values[key] = 0.0 if abs(raw) < c.deadzone else sign * (abs(raw) - c.deadzone) / (1 - c.deadzone) * np.sign(raw)
        gripper = float((c.gripper_close_button in self.buttons) - (c.gripper_open_button in self.buttons))
        twist = Twist([values["vx"], values["vy"], values["vz"]], [values["wx"], values["wy"], values["wz"]])
        if c.enable_button >= 0:
            enabled = c.enable_button in self.buttons
        else:
            enabled = not twist.is_zero or gripper != 0.0
        return TeleopInput(twist=twist, gripper=gripper, stamp=now if enabled else None)


class GamepadTeleop:
    """The first (config.index) joystick pygame sees; poll() drains pygame's event queue."""

    def __init__(self, config: GamepadConfig | None = None) -> None:
        self.config = config or GamepadConfig()
        self.pygame = init_pygame()
        count = self.pygame.joystick.get_count()
        if count <= self.config.index:
            raise InputLost(f"no gamepad #{self.config.index} ({count} connected)")
        self.stick = self.pygame.joystick.Joystick(self.config.index)
        self.state = GamepadState(self.config, self.stick.get_instance_id())

    def poll(self, now: float) -> TeleopInput:
        pygame = self.pygame
        for event in pygame.event.get():
            self.state.handle(event, pygame, now)
        if not self.state.connected:
            raise InputLost("gamepad disconnected")
        return self.state.read(now)

    def close(self) -> None:
        self.pygame.joystick.quit()
