"""Camera sources named by one string, as the camera node's `source` parameter and the
`roboalign calib intrinsics --camera` flag take them:

    realsense                   the only RealSense connected
    realsense:123622270882      the RealSense with this serial number
    realsense-file:run.db3      a RealSense recording (.db3 or .bag; a path ending so also works)
    opencv:0 | /dev/video0      a UVC camera through OpenCV (index, /dev path or by-id path)
    opencv:clip.mp4             a video file (or a stream URL) through OpenCV
    episode:DIR                 a recorded roboalign episode folder; episode:DIR#wrist picks its camera

`open_source` builds the StreamingCamera; nothing is opened until connect().
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from roboalign.core.camera import Intrinsics
from roboalign.sensors.streaming import StreamingCamera

KINDS = ("realsense", "realsense-file", "opencv", "episode")
FORMS = "realsense[:SERIAL], realsense-file:PATH(.db3|.bag), opencv:INDEX|PATH|URL, /dev/videoN, episode:DIR[#CAMERA]"


@dataclasses.dataclass(frozen=True)
class CameraSource:
    kind: str      # one of KINDS
    target: str    # serial, path, index, URL or episode folder ("" = the only RealSense)
    camera: str = ""  # episode: which of its cameras

    @classmethod
    def parse(cls, text: str) -> CameraSource:
        text = text.strip()
        kind, sep, rest = text.partition(":")
        if text.startswith("/dev/video") or text.startswith("/dev/v4l/") or text.isdigit():
            return cls("opencv", text)
        if text.endswith((".db3", ".bag")) and kind not in KINDS:
            return cls("realsense-file", text)
        if kind == "realsense" and not sep:
            return cls("realsense", "")
        if kind not in KINDS or not rest and kind != "realsense":
            raise ValueError(f"camera source {text!r} is not one of: {FORMS}")
        if kind == "episode":
            folder, _, camera = rest.partition("#")
            return cls(kind, folder, camera)
        return cls(kind, rest)


def open_source(name: str, source: str | CameraSource, *, width: int = 640, height: int = 480, fps: int = 30,
                depth: bool = True, playback_rate: float = 1.0, recorded_timestamps: bool = False,
                intrinsics: Intrinsics | None = None, clock: Callable[[], float] = time.monotonic,
                reconnect_interval_s: float = 1.0, lost_after_s: float = 2.0) -> StreamingCamera:
    """The camera `name` reading `source`. width/height/fps: the mode asked of a device (0 = its
    default, OpenCV only); playback_rate, recorded_timestamps: recordings; intrinsics: an
    episode's (a device or RealSense recording reports its own)."""
    src = source if isinstance(source, CameraSource) else CameraSource.parse(source)
    common = {"clock": clock, "reconnect_interval_s": reconnect_interval_s, "lost_after_s": lost_after_s}
    if src.kind in ("realsense", "realsense-file"):
        from roboalign.sensors.realsense import RealSenseCamera, RealSenseConfig

        playback = src.target if src.kind == "realsense-file" else ""
        config = RealSenseConfig(serial="" if playback else src.target, width=width, height=height, fps=fps,
                                 depth=depth, playback_file=playback, playback_rate=playback_rate,
                                 recorded_timestamps=recorded_timestamps and bool(playback))
        return RealSenseCamera(name, config, **common)
    if src.kind == "opencv":
        from roboalign.sensors.opencv import OpenCVCamera

        return OpenCVCamera(name, src.target, width=width, height=height, fps=fps, **common)
    from roboalign.sensors.replay import EpisodeReplayCamera

    return EpisodeReplayCamera(name, src.target, camera=src.camera or None, rate=playback_rate,
                               intrinsics=intrinsics, clock=clock)
