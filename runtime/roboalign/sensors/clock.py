"""DeviceClock: a camera's own frame stamps mapped onto the host clock.

A RealSense (or a V4L2 buffer) stamps each frame when the sensor exposed it, on the device's
clock; the host only sees the frame later, after transfer and decoding, with a delay that
varies from frame to frame (USB scheduling, a busy CPU). Stamping a frame with its arrival time
would add that jitter to every capture time the observation assembler compares. Instead:

    host_capture = device_time + offset,   offset = min over the last `window_s` of
                                                     (arrival_time - device_time)

The smallest (arrival - device) seen recently is the offset between the two clocks plus the
fastest transfer: taking the minimum removes the jitter (the same filter librealsense's
global-time mode and diffusion_policy's camera readers use). Mapped times lag the true capture
by that fastest transfer only, never lead it, and never exceed a frame's own arrival time.
The window follows slow clock drift (tens of ppm: under 1 ms over 10 s); a device clock that
jumps (device reset, a recording restarted) by more than `reset_after_s` starts a new window.
"""
from __future__ import annotations

import collections
import math


class DeviceClock:
    """Maps device stamps (s) onto the host clock (s) with a windowed minimum-delay filter."""

    def __init__(self, window_s: float = 10.0, reset_after_s: float = 1.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0 and math.isfinite(reset_after_s) and reset_after_s > 0):
            raise ValueError(f"DeviceClock: window_s and reset_after_s must be positive, got {window_s}, {reset_after_s}")
        self.window_s = float(window_s)
        self.reset_after_s = float(reset_after_s)
        self.resets = 0  # how often the device clock jumped and the window restarted
        self._last_device: float | None = None
        # (arrival time, offset) with offsets increasing from left to right: the left end is the
        # window's minimum (a monotonic queue: O(1) amortised per frame).
        self._window: collections.deque[tuple[float, float]] = collections.deque()

    def to_host(self, device_time: float, arrival_time: float) -> float:
        """The host-clock capture time of a frame stamped `device_time` that arrived at `arrival_time`."""
        device_time, arrival_time = float(device_time), float(arrival_time)
        offset = arrival_time - device_time
        if self._last_device is not None:
            went_back = device_time < self._last_device
            jumped = self._window and abs(offset - self._window[0][1]) > self.reset_after_s
            if went_back or jumped:
                self._window.clear()
                self.resets += 1
        self._last_device = device_time
        while self._window and self._window[-1][1] >= offset:
            self._window.pop()
        self._window.append((arrival_time, offset))
        while self._window[0][0] < arrival_time - self.window_s:
            self._window.popleft()
        return device_time + self._window[0][1]

    def reset(self) -> None:
        """Forget the window (the device was reopened: its clock may have restarted)."""
        self._window.clear()
        self._last_device = None
