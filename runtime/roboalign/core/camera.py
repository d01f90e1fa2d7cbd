"""Camera: the hardware seam every image source sits behind (UVC, RealSense, replay, sim).

Interfaces and records only: drivers live in roboalign.sensors. Read semantics, exactly:

- `read(timeout_s)` blocks until a frame captured after the previously returned one exists,
  and returns it: two calls never return the same frame. It raises `FrameTimeoutError` when
  none arrives within `timeout_s`.
- `read_latest(max_age_s)` never waits for a new frame: it returns the newest frame the camera
  has captured (possibly the one returned last time) if it is at most `max_age_s` seconds old
  on the host clock, and raises `StaleFrameError` naming the camera otherwise (also when no
  frame was ever captured). This is what a control loop calls: it must not block on a camera.

A `Frame`'s capture_time is on the host's monotonic clock (ROS time in the ROS nodes, the
simulated clock for a simulated camera): the same clock as the robot's joint states, so the
observation assembler can compare their ages and their skew.
"""
from __future__ import annotations

import abc
import dataclasses

import numpy as np

from roboalign.errors import RoboAlignError


class CameraError(RoboAlignError):
    """A camera cannot deliver what was asked; the message says which camera and what to do."""


class NotConnectedError(CameraError):
    """A read on a device that is not connected (call connect() first)."""


class FrameTimeoutError(CameraError):
    """read() waited `timeout_s` without a new frame."""


class StaleFrameError(CameraError):
    """read_latest() found no frame, or only one older than `max_age_s`."""

    def __init__(self, camera: str, age_s: float | None, max_age_s: float) -> None:
        self.camera, self.age_s, self.max_age_s = camera, age_s, max_age_s
        if age_s is None:
            what = f"camera {camera!r} has not captured a frame yet"
        else:
            what = f"camera {camera!r}: newest frame is {age_s:.3f} s old (max {max_age_s:.3f} s)"
        super().__init__(f"{what}: check that it is connected and streaming")


@dataclasses.dataclass(frozen=True)
class Frame:
    """One captured image.

    image: uint8 [H, W, 3], RGB.
    capture_time: seconds on the host clock at which the sensor captured it (not when it was
        received or decoded): the stamp the observation assembler checks for age and skew.
    sequence: frame number from this camera, increasing by at least 1 per captured frame (a
        gap means frames were dropped).
    """

    image: np.ndarray
    capture_time: float
    sequence: int

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"Frame.image must be uint8 [H, W, 3] RGB, got {getattr(img, 'dtype', type(img).__name__)} "
                f"{getattr(img, 'shape', None)}"
            )
        if not np.isfinite(self.capture_time):
            raise ValueError(f"Frame.capture_time must be finite seconds, got {self.capture_time}")

    def age(self, now: float) -> float:
        """Seconds between capture and `now` (same clock)."""
        return float(now) - self.capture_time


class Camera(abc.ABC):
    """One image stream.

    Lifecycle: `connect()` opens the device and starts capturing; `disconnect()` stops and
    releases it. Both are idempotent (a second call does nothing). Reading a disconnected
    camera raises `NotConnectedError` whose message says to call connect(). Not required to be
    thread-safe unless a driver says so: read from one thread.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The camera's name in observations ("front", "wrist"): the key of Observation.images."""

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """True between connect() and disconnect()."""

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the device and start capturing. Idempotent. Raises CameraError saying what to
        check (device path, permissions, cable) when the device cannot be opened."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop capturing and release the device. Idempotent; never raises."""

    @abc.abstractmethod
    def read(self, timeout_s: float = 1.0) -> Frame:
        """Block until a frame newer than the last one returned exists, and return it.

        Raises NotConnectedError before connect(), FrameTimeoutError after `timeout_s` seconds
        without a new frame."""

    @abc.abstractmethod
    def read_latest(self, max_age_s: float) -> Frame:
        """The freshest captured frame, without waiting for a new one.

        Raises StaleFrameError (naming this camera) when no frame exists or the newest one was
        captured more than `max_age_s` seconds ago; NotConnectedError before connect()."""
