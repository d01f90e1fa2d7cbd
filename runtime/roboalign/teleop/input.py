"""What every teleop source yields: TeleopInput, a twist or joint targets, stamped.

`stamp` is the last moment (monotonic s) the operator was seen commanding: a key press, a
gamepad with its enable button held, a 3D-mouse report, a leader joint state. The controller
compares it with its clock (the deadman); a source never has to send "nothing".
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Twist:
    """End-effector velocity as fractions of the controller's max_linear / max_angular:
    linear [3] and angular [3], each component in [-1, 1] (a device's full deflection = 1)."""

    linear: np.ndarray
    angular: np.ndarray

    def __post_init__(self) -> None:
        for name in ("linear", "angular"):
            value = np.clip(np.nan_to_num(np.asarray(getattr(self, name), dtype=np.float64).reshape(3)), -1.0, 1.0)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @classmethod
    def zero(cls) -> Twist:
        return cls(np.zeros(3), np.zeros(3))

    @property
    def is_zero(self) -> bool:
        return not (np.any(self.linear) or np.any(self.angular))


@dataclasses.dataclass(frozen=True)
class TeleopInput:
    """One reading of a source.

    twist: end-effector motion (keyboard, gamepad, 3D mouse), or None.
    joints: follower joint name -> target (rad; gripper units) for a leader arm, or None.
    gripper: -1 open, +1 close, 0 leave it (a rate: the controller moves it at gripper_speed).
    stamp: monotonic seconds of the last operator activity (None: never any).
    """

    twist: Twist | None = None
    joints: dict[str, float] | None = None
    gripper: float = 0.0
    stamp: float | None = None

    @classmethod
    def idle(cls) -> TeleopInput:
        return cls()
