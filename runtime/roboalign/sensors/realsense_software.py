"""SoftwareRealSense: librealsense's own software device, fed with images you give it.

It is a RealSense as far as librealsense is concerned (intrinsics, extrinsics, depth units,
timestamps, frame numbers, rs.align, the recorder), with no hardware: what the tests use to run
the real pyrealsense2 path, and what `write_recording` uses to make a .db3 a RealSenseCamera
(and so the camera node) can play back. Measured behaviour and traps: recipes/realsense.md.

    cam = SoftwareRealSense(width=64, height=48, fps=30, color_fx=60.0)
    sync = cam.start_syncer()
    cam.push(rgb, depth_mm, frame_number=n, timestamp_ms=t0 + n * 1000 / 30)
    frameset = sync.wait_for_frames(1000)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from roboalign.sensors.realsense import require_pyrealsense2, rs


@dataclasses.dataclass(frozen=True)
class StreamModel:
    """Pinhole model of one software stream (pixels); no distortion."""

    fx: float
    fy: float
    cx: float
    cy: float


class SoftwareRealSense:
    """A colour + depth RealSense made of librealsense's software device.

    baseline_m: depth-to-colour translation along x (what rs.align needs; 15 mm on a D435).
    timestamp_domain: "hardware_clock" (a device's own clock) or "global_time" (host ms).
    color_format: "rgb8" or "bgr8" (a playback must ask for the format that was recorded)."""

    def __init__(self, width: int = 64, height: int = 48, fps: int = 30, color: StreamModel | None = None,
                 depth: StreamModel | None = None, baseline_m: float = 0.015, serial: str = "000000000042",
                 timestamp_domain: str = "global_time", color_format: str = "rgb8", depth_units: float = 0.001) -> None:
        require_pyrealsense2()
        self.width, self.height, self.fps = width, height, fps
        self.color_model = color or StreamModel(0.9 * width, 0.9 * width, width / 2, height / 2)
        self.depth_model = depth or self.color_model
        self.domain = getattr(rs.timestamp_domain, timestamp_domain)
        self.color_format = color_format
        self.depth_units = depth_units
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.device.register_info(rs.camera_info.name, "Intel RealSense (software device)")
        self._depth_sensor = self.device.add_sensor("Stereo Module")
        self._color_sensor = self.device.add_sensor("RGB Camera")
        self._depth_profile = self._add_stream(self._depth_sensor, rs.stream.depth, 0, 2, rs.format.z16, self.depth_model)
        self._depth_sensor.add_read_only_option(rs.option.depth_units, depth_units)  # makes it an rs.depth_sensor
        fmt = getattr(rs.format, color_format)
        self._color_profile = self._add_stream(self._color_sensor, rs.stream.color, 1, 3, fmt, self.color_model)
        ext = rs.extrinsics()
        ext.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        ext.translation = [baseline_m, 0.0, 0.0]
        self._depth_profile.register_extrinsics_to(self._color_profile, ext)  # required by rs.align
        self.device.create_matcher(rs.matchers.default)
        self._started = False

    def _add_stream(self, sensor, kind, uid: int, bpp: int, fmt, model: StreamModel):
        intr = rs.intrinsics()
        intr.width, intr.height = self.width, self.height
        intr.fx, intr.fy, intr.ppx, intr.ppy = model.fx, model.fy, model.cx, model.cy
        intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.0] * 5
        vs = rs.video_stream()
        vs.type, vs.uid, vs.width, vs.height, vs.fps = kind, uid, self.width, self.height, self.fps
        vs.bpp, vs.fmt, vs.intrinsics = bpp, fmt, intr
        return rs.video_stream_profile(sensor.add_video_stream(vs, True))

    def start(self, sink) -> None:
        """Open both sensors and send their frames to `sink` (an rs.syncer or a callback)."""
        self._depth_sensor.open(self._depth_profile)
        self._color_sensor.open(self._color_profile)
        self._depth_sensor.start(sink)
        self._color_sensor.start(sink)
        self._started = True

    def start_syncer(self, capacity: int = 100):
        """Start into a new rs.syncer and return it (capacity 100: with 1, depth #0 is lost)."""
        sync = rs.syncer(capacity)
        self.start(sync)
        return sync

    def push(self, rgb: np.ndarray, depth_mm: np.ndarray, frame_number: int, timestamp_ms: float) -> None:
        """One depth + colour pair (pixels are copied on push). depth_mm: uint16 millimetres."""
        depth_units = np.rint(depth_mm.astype(np.float64) * (0.001 / self.depth_units)).astype(np.uint16)
        color = np.ascontiguousarray(rgb[:, :, ::-1] if self.color_format == "bgr8" else rgb, dtype=np.uint8)
        for sensor, profile, bpp, pixels in ((self._depth_sensor, self._depth_profile, 2, depth_units),
                                             (self._color_sensor, self._color_profile, 3, color)):
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = np.ascontiguousarray(pixels), bpp, self.width * bpp
            f.timestamp, f.domain, f.frame_number, f.profile = float(timestamp_ms), self.domain, int(frame_number), profile
            if bpp == 2:
                f.depth_units = self.depth_units
            # Without this the device derives actual_fps from (0, 0) and the syncer stops pairing
            # frames whose stamps are not n * 1000 / fps (recipes/realsense.md, trap 1).
            sensor.set_metadata(rs.frame_metadata_value.actual_fps, self.fps * 1000)
            sensor.on_video_frame(f)

    def stop(self) -> None:
        if self._started:
            for sensor in (self._depth_sensor, self._color_sensor):
                sensor.stop()
                sensor.close()
            self._started = False


def write_recording(path: str | Path, frames: Iterable[tuple[np.ndarray, np.ndarray, float]],
                    camera: SoftwareRealSense | None = None) -> Path:
    """Record (rgb, depth_mm, timestamp_ms) pairs as a librealsense .db3 that RealSenseCamera
    plays back; frame numbers count from 0. Returns the path (it must end in .db3)."""
    path = Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"librealsense 2.59 records only .db3 files, got {path}")
    frames = list(frames)
    if camera is None:
        h, w = frames[0][0].shape[:2]
        camera = SoftwareRealSense(width=w, height=h)
    recorder = rs.recorder(str(path), camera.device)
    sync = camera.start_syncer()
    for n, (rgb, depth_mm, stamp_ms) in enumerate(frames):
        camera.push(rgb, depth_mm, n, stamp_ms)
        while sync.poll_for_frames():
            pass  # drain: the recorder writes from the sensors; the syncer only must not fill up
    camera.stop()
    recorder.pause()  # flushes the file (without it, 1 frameset of 10 was kept: trap 4)
    del recorder
    return path
