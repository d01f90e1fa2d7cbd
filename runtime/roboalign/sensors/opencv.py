"""OpenCVCamera: a UVC webcam (V4L2) or any source cv2.VideoCapture opens, behind core.Camera.

    cam = OpenCVCamera("front", "/dev/video0", width=640, height=480, fps=30, fourcc="MJPG")

- device: a V4L2 index (0) or path (/dev/video0, /dev/v4l/by-id/... stays stable across
  replugs), a video file, or a stream URL. A file plays at its own frame rate and is opened
  again at its end (a stand-in camera for tests and demos).
- Capture times: when the backend reports each buffer's timestamp (V4L2 stamps buffers when
  the sensor finishes them) it is mapped onto the host clock (sensors.clock.DeviceClock),
  else the host time at which the frame was read is used.
- width/height/fps/fourcc are requests: a UVC camera picks its nearest mode. The size it chose
  is checked against the request when it opens and a mismatch is refused (a policy trained on
  640x480 must not get 1280x720 silently); 0 / "" = take the default.
- A read failure (unplugged) closes the device; the reader reopens it every
  `reconnect_interval_s` (roboalign.sensors.streaming).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from roboalign.core.camera import CameraError
from roboalign.sensors.clock import DeviceClock
from roboalign.sensors.streaming import Capture, DeviceLostError, StreamingCamera


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - depends on the install
        raise CameraError('OpenCV is not installed: pip install -e ".[realsense]" (opencv-python-headless)') from None
    return cv2


class OpenCVCamera(StreamingCamera):
    def __init__(self, name: str, device: int | str, width: int = 0, height: int = 0, fps: float = 0.0,
                 fourcc: str = "", clock: Callable[[], float] = time.monotonic, reconnect_interval_s: float = 1.0,
                 lost_after_s: float = 2.0) -> None:
        super().__init__(name, clock=clock, reconnect_interval_s=reconnect_interval_s, lost_after_s=lost_after_s)
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        if fourcc and len(fourcc) != 4:
            raise ValueError(f"camera {name!r}: fourcc must be 4 characters (MJPG, YUYV), got {fourcc!r}")
        self.device = device
        self.width, self.height, self.fps, self.fourcc = int(width), int(height), float(fps), fourcc
        self.device_clock = DeviceClock()
        self._cap = None
        self._is_file = isinstance(device, str) and not device.startswith("/dev/") and "://" not in device
        self._file_period = 0.0
        self._next_due = 0.0

    def _open(self) -> None:
        cv2 = _cv2()
        if isinstance(self.device, str) and self.device.startswith("/dev/") and not Path(self.device).exists():
            raise CameraError(f"camera {self.name!r}: {self.device} does not exist (unplugged? "
                              "`v4l2-ctl --list-devices` lists the cameras)")
        if self._is_file and not Path(self.device).is_file():
            raise CameraError(f"camera {self.name!r}: video file {self.device} does not exist")
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"camera {self.name!r}: OpenCV cannot open {self.device!r}: check that it exists "
                              "and that this user may read it (the `video` group)")
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        got = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (self.width and got[0] != self.width) or (self.height and got[1] != self.height):
            cap.release()
            raise CameraError(f"camera {self.name!r}: asked for {self.width}x{self.height}, {self.device!r} "
                              f"delivers {got[0]}x{got[1]}; pick a mode it has (`v4l2-ctl --list-formats-ext`)")
        self._cap = cap
        self._file_period = 0.0
        if self._is_file:
            rate = cap.get(cv2.CAP_PROP_FPS)
            self._file_period = 1.0 / (self.fps or (rate if rate > 0 else 30.0))
        self._next_due = time.monotonic()
        self.device_clock.reset()

    def _grab(self, timeout_s: float) -> Capture | None:
        cv2 = _cv2()
        if self._file_period:  # a file has no sensor pacing it: play it at its frame rate
            self._stop.wait(max(0.0, self._next_due - time.monotonic()))
            self._next_due = max(self._next_due + self._file_period, time.monotonic() - self._file_period)
        ok, bgr = self._cap.read()  # blocks until the device delivers (its own timeout: ~10 s in V4L2)
        if not ok and self._is_file:  # end of the file: open it again (a vanished file is a lost device)
            self._close()
            self._open()
            ok, bgr = self._cap.read()
        arrival = self.clock()
        if not ok or bgr is None:
            raise DeviceLostError(f"reading {self.device!r} failed")
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        stamp_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        capture_time = arrival
        if stamp_ms > 0 and not self._is_file:
            capture_time = min(arrival, self.device_clock.to_host(stamp_ms / 1000.0, arrival))
        frame_number = None if self._is_file else int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) or None
        return Capture(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), capture_time=capture_time,
                       device_sequence=frame_number)

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
