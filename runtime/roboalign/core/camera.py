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
observation assembler can compare their ages and their skew. A driver whose device stamps
frames on its own clock (RealSense) maps those stamps onto the host clock before they reach a
Frame (roboalign.sensors.clock).

`Intrinsics` is the pinhole model of one image stream (pixels), as a calibration or the device
reports it; a Frame carries it when its camera knows it.
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


DISTORTION_MODELS = ("none", "plumb_bob", "rational_polynomial", "equidistant")


@dataclasses.dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of a width x height image, in pixels.

    distortion_model: "none", "plumb_bob" (k1 k2 p1 p2 k3: OpenCV's and RealSense's
        Brown-Conrady), "rational_polynomial" (8 coefficients) or "equidistant" (fisheye, 4),
        with the names sensor_msgs/CameraInfo uses.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "none"
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"Intrinsics: image size must be positive, got {self.width}x{self.height}")
        values = (self.fx, self.fy, self.cx, self.cy, *self.distortion)
        if not all(np.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"Intrinsics: fx, fy must be positive and every value finite, got {values}")
        if self.distortion_model not in DISTORTION_MODELS:
            raise ValueError(f"Intrinsics: distortion_model {self.distortion_model!r} is not one of {DISTORTION_MODELS}")
        object.__setattr__(self, "distortion", tuple(float(d) for d in self.distortion))

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclasses.dataclass(frozen=True)
class Frame:
    """One captured image.

    image: uint8 [H, W, 3], RGB.
    capture_time: seconds on the host clock at which the sensor captured it (not when it was
        received or decoded): the stamp the observation assembler checks for age and skew.
    sequence: frame number from this camera, increasing by at least 1 per captured frame (a
        gap means frames were dropped).
    depth: optional uint16 [H, W] millimetres, registered to `image` pixel for pixel (0 = no
        reading): what a depth camera aligned to its colour stream gives.
    intrinsics: optional pinhole model of `image` (and of `depth`, which is aligned to it).
    """

    image: np.ndarray
    capture_time: float
    sequence: int
    depth: np.ndarray | None = None
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"Frame.image must be uint8 [H, W, 3] RGB, got {getattr(img, 'dtype', type(img).__name__)} "
                f"{getattr(img, 'shape', None)}"
            )
        if not np.isfinite(self.capture_time):
            raise ValueError(f"Frame.capture_time must be finite seconds, got {self.capture_time}")
        depth = self.depth
        if depth is not None and (not isinstance(depth, np.ndarray) or depth.dtype != np.uint16
                                  or depth.shape != img.shape[:2]):
            raise ValueError(f"Frame.depth must be uint16 millimetres shaped like the image {img.shape[:2]}, got "
                             f"{getattr(depth, 'dtype', type(depth).__name__)} {getattr(depth, 'shape', None)}")
        k = self.intrinsics
        if k is not None and (k.height, k.width) != img.shape[:2]:
            raise ValueError(f"Frame.intrinsics are for {k.width}x{k.height}, the image is {img.shape[1]}x{img.shape[0]}")

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
