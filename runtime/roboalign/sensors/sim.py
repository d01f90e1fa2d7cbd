"""SimCamera: a MuJoCo camera of the sim arm behind the core.Camera interface.

A simulated camera captures on demand: a frame is rendered when one is asked for and the
simulated clock has moved since the last frame (or the scene was reset), and is stamped with
the simulated time. So:

- read_latest(max_age_s) always returns a frame of the current simulated instant (age 0),
  rendering at most once per instant however many readers ask (the policy and the recorder
  share one render per control tick);
- read() returns a frame newer than the last one returned, which exists only once simulated
  time has advanced: called twice at one instant it raises FrameTimeoutError at once (waiting
  could never help, since nothing advances the simulation while the caller blocks).

Rendering is bound to the thread that first renders (MuJoCo's offscreen GL context): read from
the thread that steps the simulation.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from roboalign.core.camera import Camera, Frame, FrameTimeoutError, NotConnectedError, StaleFrameError


class SimCamera(Camera):
    """Camera `name` of a simulated scene: `render(name)` draws it, `clock()` is simulated time (s)."""

    def __init__(self, name: str, render: Callable[[str], np.ndarray], clock: Callable[[], float]) -> None:
        self._name = name
        self._render = render
        self._clock = clock
        self._connected = True  # nothing to open: a simulated camera is up from construction
        self._last: Frame | None = None
        self._sequence = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False
        self._last = None

    def invalidate(self) -> None:
        """The scene changed without the clock advancing (an episode reset): render anew next time."""
        self._last = None

    def read(self, timeout_s: float = 1.0) -> Frame:
        self._check_connected()
        if self._last is not None and self._last.capture_time == self._clock():
            raise FrameTimeoutError(
                f"camera {self._name!r}: simulated time has not advanced since the last frame, so there is "
                "no new one; step the simulation (Robot.sleep_until) before reading again, or use read_latest()"
            )
        return self._capture()

    def read_latest(self, max_age_s: float) -> Frame:
        self._check_connected()
        now = self._clock()
        frame = self._last if self._last is not None and self._last.capture_time == now else self._capture()
        if frame.age(now) > max_age_s:  # never for a simulated camera; kept for the contract
            raise StaleFrameError(self._name, frame.age(now), max_age_s)
        return frame

    def _capture(self) -> Frame:
        t = float(self._clock())
        self._sequence += 1
        self._last = Frame(image=self._render(self._name), capture_time=t, sequence=self._sequence)
        return self._last

    def _check_connected(self) -> None:
        if not self._connected:
            raise NotConnectedError(f"camera {self._name!r} is disconnected: call connect() first")
