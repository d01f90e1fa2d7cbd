"""3D mouse (3Dconnexion SpaceMouse / SpaceNavigator) teleop over hidapi: raw HID reports ->
a 6-DoF twist, without the vendor's driver.

Report format (the devices' HID descriptors, as open drivers such as pyspacemouse and
libspnav read them), little-endian signed 16-bit values:
    report 1, 7 bytes:  [1, tx, ty, tz]              translation (older devices)
    report 1, 13 bytes: [1, tx, ty, tz, rx, ry, rz]  translation + rotation (SpaceMouse
                                                     Wireless/Compact/Pro since about 2015)
    report 2, 7 bytes:  [2, rx, ry, rz]              rotation (older devices)
    report 3:           [3, bitmask...]              buttons, bit i = button i
A full deflection reads about +-350. Device axes: x right, y towards the user, z down (and
rotations about those); the twist here is x right, y away from the user, z up, so y and z
(and their rotations) change sign. The device streams reports (about 60 Hz) while it is
deflected and sends a last all-zero report on release; each report is operator activity.
"""
from __future__ import annotations

import struct

import numpy as np

from roboalign.control.estop_input import InputLost
from roboalign.teleop.config import SpaceMouseConfig
from roboalign.teleop.input import TeleopInput, Twist

_AXES = struct.Struct("<hhh")
_SIGN = np.array([1.0, -1.0, -1.0])  # device (x right, y toward user, z down) -> (x right, y away, z up)


class SpaceMouseState:
    """Translation/rotation (raw counts) and buttons, updated report by report."""

    def __init__(self, config: SpaceMouseConfig | None = None) -> None:
        self.config = config or SpaceMouseConfig()
        self.translation = np.zeros(3)
        self.rotation = np.zeros(3)
        self.buttons = 0
        self.last_report: float | None = None

    def parse(self, report: bytes | bytearray | list[int], now: float) -> bool:
        """One raw report (report id first, as hidapi returns it); False when not a motion/button report."""
        data = bytes(report)
        if not data:
            return False
        rid = data[0]
        if rid == 1 and len(data) >= 7:
            self.translation = np.array(_AXES.unpack_from(data, 1), dtype=np.float64)
            if len(data) >= 13:
                self.rotation = np.array(_AXES.unpack_from(data, 7), dtype=np.float64)
        elif rid == 2 and len(data) >= 7:
            self.rotation = np.array(_AXES.unpack_from(data, 1), dtype=np.float64)
        elif rid == 3 and len(data) >= 2:
            self.buttons = int.from_bytes(data[1:], "little")
        else:
            return False
        self.last_report = now
        return True

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.clip(raw / c.full_scale, -1.0, 1.0)
        mag = np.maximum(np.abs(x) - c.deadzone, 0.0) / (1.0 - c.deadzone)
        return np.sign(x) * mag * _SIGN

    def button(self, index: int) -> bool:
        return bool(self.buttons >> index & 1)

    def read(self) -> TeleopInput:
        c = self.config
        gripper = float(self.button(c.gripper_close_button) - self.button(c.gripper_open_button))
        return TeleopInput(twist=Twist(self._scaled(self.translation), self._scaled(self.rotation)),
                           gripper=gripper, stamp=self.last_report)


class SpaceMouseTeleop:
    """The first 3Dconnexion device hidapi finds (vendor_ids, product_id), read without blocking."""

    def __init__(self, config: SpaceMouseConfig | None = None) -> None:
        self.config = config or SpaceMouseConfig()
        try:
            import hid
        except ImportError:
            raise InputLost("the 3D mouse source needs hidapi: pip install hidapi") from None
        found = [d for d in hid.enumerate() if d["vendor_id"] in self.config.vendor_ids
                 and (not self.config.product_id or d["product_id"] == self.config.product_id)]
        if not found:
            raise InputLost("no 3Dconnexion device found (is it plugged in, and may this user read /dev/hidraw*?)")
        self.device = hid.device()
        try:
            self.device.open_path(found[0]["path"])
        except OSError as exc:
            raise InputLost(f"cannot open the 3D mouse: {exc} (udev rule for /dev/hidraw*?)") from None
        self.device.set_nonblocking(True)
        self.state = SpaceMouseState(self.config)

    def poll(self, now: float) -> TeleopInput:
        try:
            while True:
                report = self.device.read(64)
                if not report:
                    break
                self.state.parse(report, now)
        except OSError as exc:
            raise InputLost(f"3D mouse read failed: {exc}") from None
        return self.state.read()

    def close(self) -> None:
        self.device.close()
