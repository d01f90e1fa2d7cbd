"""StreamingCamera: a device read by a background thread that always holds the freshest frame.

Every hardware driver (RealSense, OpenCV/UVC) and the replay sources share this reader; a
driver only says how to open its device, grab one frame and close it (`_open`, `_grab`,
`_close`). The reader thread grabs frames as fast as the device delivers them and keeps the
newest, so:

- `read_latest(max_age_s)` returns at once (never blocks on a device): the newest frame, or
  StaleFrameError when it is older than `max_age_s` on the host clock;
- `read(timeout_s)` waits for a frame newer than the last one it returned;
- a device that stops delivering (a USB drop, a read error, `lost_after_s` without a frame) is
  closed, reported in `status().error`, and reopened every `reconnect_interval_s` until it
  comes back; frames then resume with their sequence numbers still increasing;
- `status()` reports the measured rate, the frames dropped (gaps in the device's frame
  counter), reconnects and the newest frame's age: what the camera node's diagnostics say.

`connect()` opens the device in the caller's thread first, so a camera that is not there is a
CameraError at once (what to check, one line), not a silent reader thread. The reader is
thread-safe: any thread may read while it runs.

`clock` is the host clock capture times are on (time.monotonic by default; the ROS camera node
passes ROS time). Loss detection always uses time.monotonic, whatever `clock` is.
"""
from __future__ import annotations

import abc
import collections
import dataclasses
import threading
import time
from collections.abc import Callable

import numpy as np

from roboalign.core.camera import (
    Camera,
    CameraError,
    Frame,
    FrameTimeoutError,
    Intrinsics,
    NotConnectedError,
    StaleFrameError,
)

RATE_WINDOW = 64  # newest capture times kept to measure the frame rate


class DeviceLostError(CameraError):
    """The device stopped delivering (unplugged, read error); the reader will reopen it."""


class EndOfStreamError(FrameTimeoutError):
    """A finite source (a recording played once) has delivered its last frame."""


@dataclasses.dataclass(frozen=True)
class Capture:
    """One frame as a driver's `_grab` hands it over.

    capture_time: host clock (s), already mapped from the device's stamp (sensors.clock).
    device_sequence: the device's frame counter when it has one (a gap = frames dropped).
    """

    image: np.ndarray
    capture_time: float
    device_sequence: int | None = None
    depth: np.ndarray | None = None
    intrinsics: Intrinsics | None = None


@dataclasses.dataclass(frozen=True)
class CameraStatus:
    """What a camera is doing now (for diagnostics and logs)."""

    name: str
    streaming: bool               # device open and read by the reader thread
    frames: int                   # frames captured since connect()
    dropped: int                  # frames the device counted but never delivered
    reconnects: int               # times the device was reopened after a loss
    rate_hz: float                # measured over the newest frames (0 when fewer than 2)
    newest_capture_time: float | None
    age_s: float | None           # host clock now minus newest_capture_time
    error: str | None             # the last failure while it lasts (None when streaming)
    ended: bool = False           # a finite source delivered its last frame

    def summary(self) -> str:
        if self.ended:
            return f"camera {self.name!r}: recording ended after {self.frames} frames"
        if self.error:
            return f"camera {self.name!r}: {self.error}"
        age = "no frame yet" if self.age_s is None else f"newest {self.age_s * 1000:.0f} ms old"
        return f"camera {self.name!r}: {self.rate_hz:.1f} Hz, {age}, {self.dropped} dropped, {self.reconnects} reconnects"


class StreamingCamera(Camera):
    """Base of the background-read drivers. Subclasses implement _open, _grab and _close."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic, reconnect_interval_s: float = 1.0,
                 lost_after_s: float = 2.0) -> None:
        if not name:
            raise ValueError("a camera needs a name (the key of Observation.images)")
        if not (reconnect_interval_s > 0 and lost_after_s > 0):
            raise ValueError(f"camera {name!r}: reconnect_interval_s and lost_after_s must be positive")
        self._name = name
        self.clock = clock
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.lost_after_s = float(lost_after_s)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._connected = False
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._newest: Frame | None = None
        self._returned = 0            # sequence of the frame read() returned last
        self._sequence = 0
        self._last_device_sequence: int | None = None
        self._frames = self._dropped = self._reconnects = 0
        self._rate_times: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)
        self._error: str | None = None
        self._streaming = False
        self._ended = False

    # ---- what a driver implements ---------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Open the device and start it streaming; raise CameraError saying what to check."""

    @abc.abstractmethod
    def _grab(self, timeout_s: float) -> Capture | None:
        """The next frame, or None when none came within `timeout_s`. Raise DeviceLostError (or
        any error) when the device failed, EndOfStreamError when a finite source is done."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device; never raises."""

    # ---- Camera ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        if self._connected:
            return
        self._reset_counters()
        try:
            self._open()
        except CameraError:
            self._safe_close()
            raise
        except Exception as exc:  # a driver library's own error type: say which camera
            self._safe_close()
            raise CameraError(f"camera {self._name!r}: {exc}") from exc
        self._streaming = True
        self._stop.clear()
        self._connected = True
        self._thread = threading.Thread(target=self._run, name=f"camera-{self._name}", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        if not self._connected:
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._streaming:
            self._safe_close()
        self._streaming = False
        self._connected = False

    def read(self, timeout_s: float = 1.0) -> Frame:
        self._check_connected()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._newest is None or self._newest.sequence <= self._returned:
                if self._ended:
                    raise EndOfStreamError(f"camera {self._name!r}: the recording has no more frames")
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f" ({self._error})" if self._error else ""
                    raise FrameTimeoutError(f"camera {self._name!r}: no new frame within {timeout_s:.3f} s{why}")
                self._cond.wait(left)
            self._returned = self._newest.sequence
            return self._newest

    def read_latest(self, max_age_s: float) -> Frame:
        self._check_connected()
        with self._cond:
            frame = self._newest
        if frame is None:
            raise StaleFrameError(self._name, None, max_age_s)
        age = frame.age(self.clock())
        if age > max_age_s:
            raise StaleFrameError(self._name, age, max_age_s)
        return frame

    def status(self) -> CameraStatus:
        with self._cond:
            frame, times = self._newest, list(self._rate_times)
            rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            return CameraStatus(
                name=self._name, streaming=self._streaming, frames=self._frames, dropped=self._dropped,
                reconnects=self._reconnects, rate_hz=rate,
                newest_capture_time=None if frame is None else frame.capture_time,
                age_s=None if frame is None else frame.age(self.clock()), error=self._error, ended=self._ended)

    # ---- the reader thread ----------------------------------------------------------------
    def _run(self) -> None:
        last_arrival = time.monotonic()
        while not self._stop.is_set():
            if not self._streaming:
                if not self._reopen():
                    self._stop.wait(self.reconnect_interval_s)
                    continue
                last_arrival = time.monotonic()
            try:
                capture = self._grab(min(0.1, self.lost_after_s))
            except EndOfStreamError:
                self._lose(None)
                with self._cond:
                    self._ended = True
                    self._cond.notify_all()
                return
            except Exception as exc:  # whatever the device library raised: the device is gone
                self._lose(f"device lost ({exc}); reopening every {self.reconnect_interval_s:g} s")
                continue
            if capture is None:
                if time.monotonic() - last_arrival > self.lost_after_s:
                    self._lose(f"no frame for {self.lost_after_s:g} s (device lost?); reopening every "
                               f"{self.reconnect_interval_s:g} s")
                continue
            last_arrival = time.monotonic()
            try:
                self._publish(capture)
            except ValueError as exc:  # a driver bug or a corrupt frame: say so, keep reading
                with self._cond:
                    self._error = f"unusable frame skipped: {exc}"

    def _reopen(self) -> bool:
        try:
            self._open()
        except Exception as exc:
            with self._cond:
                self._error = f"cannot reopen: {exc}"
            self._safe_close()
            return False
        with self._cond:
            self._streaming = True
            self._reconnects += 1
            self._last_device_sequence = None  # a reopened device restarts its counter
            self._error = None
        return True

    def _lose(self, error: str | None) -> None:
        self._safe_close()
        with self._cond:
            self._streaming = False
            self._error = error

    def _publish(self, capture: Capture) -> None:
        seq_dev = capture.device_sequence
        step = 1
        if seq_dev is not None and self._last_device_sequence is not None and seq_dev > self._last_device_sequence:
            step = seq_dev - self._last_device_sequence
        if seq_dev is not None:
            self._last_device_sequence = seq_dev
        frame = Frame(image=capture.image, capture_time=float(capture.capture_time), sequence=self._sequence + step,
                      depth=capture.depth, intrinsics=capture.intrinsics)
        with self._cond:
            self._sequence = frame.sequence
            self._dropped += step - 1
            self._frames += 1
            self._rate_times.append(frame.capture_time)
            self._newest = frame
            self._error = None
            self._cond.notify_all()

    def _safe_close(self) -> None:
        try:
            self._close()
        except Exception:  # closing a device that already vanished may fail: nothing to do
            pass

    def _check_connected(self) -> None:
        if not self._connected:
            raise NotConnectedError(f"camera {self._name!r} is disconnected: call connect() first")
