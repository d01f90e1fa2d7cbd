"""EpisodeReplayCamera: one camera of a recorded roboalign.data Episode, played as a live camera.

The frames come out at the pace they were recorded (the episode's timestamps, divided by
`rate`; rate 0 = as fast as they are read), each stamped with the host time at which it is
"captured" (so the assembler's age and skew checks behave as with the real camera), and
the replay either ends (read() then raises EndOfStreamError, status().ended turns true) or
starts over (`loop`). Lets a lab run the policy node, the camera node or a calibration on a
recorded session with no camera attached. RealSense recordings (.db3/.bag) play through
RealSenseCamera(playback_file=...) instead, with their own stamps and intrinsics.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from roboalign.core.camera import CameraError, Intrinsics
from roboalign.sensors.streaming import Capture, EndOfStreamError, StreamingCamera


class EpisodeReplayCamera(StreamingCamera):
    """Camera `camera` of the episode folder `episode` (episode.json + arrays.npz)."""

    def __init__(self, name: str, episode: str | Path, camera: str | None = None, rate: float = 1.0,
                 loop: bool = False, intrinsics: Intrinsics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # never "lost": a replay waits for its next frame's time, however far apart they were recorded
        super().__init__(name, clock=clock, lost_after_s=math.inf)
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"camera {name!r}: replay rate must be >= 0, got {rate}")
        self.episode = Path(episode)
        self.camera = camera or name
        self.rate = float(rate)
        self.loop = bool(loop)
        self.intrinsics = intrinsics
        self._images: np.ndarray | None = None
        self._times: np.ndarray | None = None
        self._index = 0
        self._start = 0.0

    def _open(self) -> None:
        meta_path, arrays_path = self.episode / "episode.json", self.episode / "arrays.npz"
        if not (meta_path.is_file() and arrays_path.is_file()):
            raise CameraError(f"camera {self.name!r}: {self.episode} is not an episode folder "
                              "(episode.json + arrays.npz, as `roboalign sim demos` writes)")
        if self._images is None:
            cameras = json.loads(meta_path.read_text()).get("cameras", [])
            if self.camera not in cameras:
                raise CameraError(f"camera {self.name!r}: episode {self.episode} has no camera {self.camera!r} "
                                  f"(it has {', '.join(cameras) or 'none'})")
            with np.load(arrays_path) as arrays:
                self._images = arrays[f"image_{self.camera}"]
                self._times = np.asarray(arrays["timestamps"], dtype=np.float64)
            if self.intrinsics is not None and (self.intrinsics.height, self.intrinsics.width) != self._images.shape[1:3]:
                raise CameraError(f"camera {self.name!r}: intrinsics are for {self.intrinsics.width}x"
                                  f"{self.intrinsics.height}, the episode's images are {self._images.shape[2]}x"
                                  f"{self._images.shape[1]}")
        self._index = 0
        self._start = time.monotonic()

    def _grab(self, timeout_s: float) -> Capture | None:
        if self._index >= len(self._times):
            if not self.loop:
                raise EndOfStreamError(f"camera {self.name!r}: end of {self.episode}")
            self._index, self._start = 0, time.monotonic()
        if self.rate > 0:
            due = self._start + (self._times[self._index] - self._times[0]) / self.rate
            wait = due - time.monotonic()
            if wait > timeout_s:
                self._stop.wait(timeout_s)
                return None  # not due yet: the reader comes back (and notices a disconnect)
            self._stop.wait(max(0.0, wait))
        i = self._index
        self._index += 1
        return Capture(image=self._images[i], capture_time=self.clock(), intrinsics=self.intrinsics)

    def _close(self) -> None:
        pass  # the arrays stay loaded: a reopen (loop, reconnect) needs no disk access
