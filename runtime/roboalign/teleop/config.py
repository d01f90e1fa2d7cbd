"""Teleop configuration: one typed record per device and for the controller, loaded from YAML
through roboalign.config (configs/teleop/<source>.yaml), so a misspelt key is refused with its
line and the closest valid name.

Units: m/s and rad/s for twists, rad (arm joints) and gripper units (0 open .. 1 closed),
seconds for times.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from roboalign import config

SOURCES = ("keyboard", "gamepad", "spacemouse", "leader")
Frame = Literal["base", "tool"]


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """How inputs become joint targets (roboalign.teleop.controller.TeleopController).

    deadman_s: input older than this (no key, no enabled gamepad, no 3D-mouse report, no
        leader joint state) counts as none: the twist goes to zero and the target holds.
    max_linear / max_angular: twists are scaled into these (m/s, rad/s) before IK.
    frame: "base" (twist axes in the arm's base frame) or "tool" (in the tool frame).
    damping: DLS damping lambda (m); larger = smoother near singularities, less exact.
    velocity_scale / acceleration_scale: fraction of the RobotSpec's joint limits the teleop
        target keeps within (the safety node then rarely has to act).
    position_margin: rad kept clear of each arm joint's limits (gripper_margin: gripper units).
    max_lead: rad the target may run ahead of the measured joints; on release the arm then
        settles within a few control periods instead of chasing a far target.
    gripper_speed: gripper units per second for a held open/close input.
    """

    deadman_s: float = 0.25
    max_linear: float = 0.15
    max_angular: float = 0.6
    frame: Frame = "base"
    damping: float = 0.02
    velocity_scale: float = 0.5
    acceleration_scale: float = 0.5
    position_margin: float = 0.03
    gripper_margin: float = 0.0
    max_lead: float = 0.05
    gripper_speed: float = 1.5

    def __post_init__(self) -> None:
        for name in ("deadman_s", "max_linear", "max_angular", "damping", "velocity_scale", "acceleration_scale",
                     "max_lead", "gripper_speed"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.velocity_scale > 1 or self.acceleration_scale > 1:
            raise ValueError("velocity_scale and acceleration_scale are fractions of the spec's limits (<= 1)")
        if self.position_margin < 0 or self.gripper_margin < 0:
            raise ValueError("margins must be >= 0")


@dataclasses.dataclass(frozen=True)
class KeyboardConfig:
    """Keys (single characters) -> unit twist axes. Each press commands its axis for
    press_s seconds (terminal auto-repeat refreshes a held key about every 30 ms, after an
    initial delay of 250-600 ms, which is why the keyboard's deadman is longer)."""

    press_s: float = 0.6
    linear: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=lambda: {
        "i": (1.0, 0.0, 0.0), "k": (-1.0, 0.0, 0.0), "j": (0.0, 1.0, 0.0), "l": (0.0, -1.0, 0.0),
        "u": (0.0, 0.0, 1.0), "o": (0.0, 0.0, -1.0)})
    angular: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=lambda: {
        "U": (1.0, 0.0, 0.0), "O": (-1.0, 0.0, 0.0), "I": (0.0, 1.0, 0.0), "K": (0.0, -1.0, 0.0),
        "J": (0.0, 0.0, 1.0), "L": (0.0, 0.0, -1.0)})
    gripper_open: str = "["
    gripper_close: str = "]"
    stop: str = "h"  # zero twist at once (the deadman would do it too, later)

    def __post_init__(self) -> None:
        keys = [*self.linear, *self.angular, self.gripper_open, self.gripper_close, self.stop]
        if any(len(k) != 1 for k in keys):
            raise ValueError(f"keyboard keys must be single characters, got {[k for k in keys if len(k) != 1]}")
        if len(set(keys)) != len(keys):
            raise ValueError("a key may do one thing only")
        if not self.press_s > 0:
            raise ValueError("press_s must be > 0")


@dataclasses.dataclass(frozen=True)
class GamepadConfig:
    """pygame joystick axes/buttons -> twist. axes: twist component (vx vy vz wx wy wz) ->
    [axis index, sign]; enable_button: held = the operator's deadman switch (-1: any stick
    outside the deadzone counts as input)."""

    index: int = 0
    deadzone: float = 0.12
    axes: dict[str, tuple[int, float]] = dataclasses.field(default_factory=lambda: {
        "vx": (1, -1.0), "vy": (0, -1.0), "vz": (4, -1.0), "wz": (3, -1.0)})
    enable_button: int = 4          # left bumper on an Xbox-layout pad
    gripper_open_button: int = 1    # B
    gripper_close_button: int = 0   # A

    def __post_init__(self) -> None:
        bad = [k for k in self.axes if k not in TWIST_KEYS]
        if bad:
            raise ValueError(f"gamepad axes: unknown twist component(s) {bad}; valid: {', '.join(TWIST_KEYS)}")
        if not 0 <= self.deadzone < 1:
            raise ValueError("deadzone must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class SpaceMouseConfig:
    """A 3Dconnexion device over hidapi. full_scale: raw count of a full deflection (about 350
    on SpaceNavigator/SpaceMouse Compact/Wireless); deadzone: fraction of it ignored.
    vendor_ids / product_id: which HID device (product_id 0 = the first known one)."""

    vendor_ids: tuple[int, ...] = (0x046D, 0x256F)  # Logitech-era and 3Dconnexion's own id
    product_id: int = 0
    full_scale: float = 350.0
    deadzone: float = 0.08
    gripper_open_button: int = 0
    gripper_close_button: int = 1

    def __post_init__(self) -> None:
        if not self.full_scale > 0 or not 0 <= self.deadzone < 1:
            raise ValueError("full_scale must be > 0 and deadzone in [0, 1)")


@dataclasses.dataclass(frozen=True)
class LeaderConfig:
    """A leader arm's joint states -> follower joint targets: follower = offset + scale *
    leader[joint_map[follower]] (rad; the gripper in its own units). Followers not mapped hold."""

    joint_map: dict[str, str] = dataclasses.field(default_factory=dict)  # follower name -> leader name
    offsets: dict[str, float] = dataclasses.field(default_factory=dict)  # follower name -> rad
    scales: dict[str, float] = dataclasses.field(default_factory=dict)   # follower name -> factor
    topic: str = "/leader/joint_states"

    def __post_init__(self) -> None:
        for what in (self.offsets, self.scales):
            bad = [k for k in what if k not in self.joint_map]
            if bad:
                raise ValueError(f"offsets/scales name follower joints not in joint_map: {bad}")


TWIST_KEYS = ("vx", "vy", "vz", "wx", "wy", "wz")


@dataclasses.dataclass(frozen=True)
class TeleopConfig:
    """One teleop session: which source drives, and every section's settings."""

    source: Literal["keyboard", "gamepad", "spacemouse", "leader"] = "keyboard"
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    keyboard: KeyboardConfig = dataclasses.field(default_factory=KeyboardConfig)
    gamepad: GamepadConfig = dataclasses.field(default_factory=GamepadConfig)
    spacemouse: SpaceMouseConfig = dataclasses.field(default_factory=SpaceMouseConfig)
    leader: LeaderConfig = dataclasses.field(default_factory=LeaderConfig)


def load_teleop_config(path: str | Path | None = None, overrides: tuple[str, ...] | list[str] = ()) -> TeleopConfig:
    """configs/teleop/<name>.yaml (or defaults when path is None/empty), with --set overrides."""
    if not path:
        return config.from_mapping(TeleopConfig, {}, source="teleop defaults", overrides=list(overrides))
    return config.load(TeleopConfig, path, overrides=list(overrides))
