"""RealSenseCamera: an Intel RealSense (D4xx) through pyrealsense2, or a recording of one.

    cam = RealSenseCamera("wrist", RealSenseConfig(serial="123622270882", width=640, height=480, fps=30))
    cam.connect()                  # CameraError at once when no such camera is plugged in
    frame = cam.read_latest(0.1)   # RGB, depth (uint16 mm) aligned to colour, intrinsics

- Colour is streamed as rgb8 and depth as z16; depth is aligned to the colour image
  (rs.align), so `frame.depth[v, u]` is the distance along the colour pixel (u, v) and the
  colour intrinsics describe both. Depth is converted to millimetres whatever the device's
  depth unit (a D405 counts 0.1 mm).
- Capture times: the device stamps each frame (hardware clock, or global time when the
  device's global-time option is on); those stamps are mapped onto the host clock with
  sensors.clock.DeviceClock, so USB and decoding jitter never reach the assembler. With
  `recorded_timestamps` (playback only) the recording's own stamps are kept: replaying a
  session then reproduces its original timing.
- `pipeline.start()` with no camera blocks about 15 s before it fails (measured; recipes/
  realsense.md). The device list is checked first (under 1 ms), so a missing or misnamed camera
  is one line at once, naming the serials that are connected.
- A recording (`playback_file`: a .db3 written by librealsense 2.59's recorder, or a legacy
  .bag) plays through the same pipeline code, non-real-time (no frame is dropped), paced by
  its own timestamps at `playback_rate` times the recorded speed (0: as fast as read).
- A device that drops off the bus is noticed by the reader (no frameset for `lost_after_s`)
  and reopened once the device list has it again (roboalign.sensors.streaming).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from roboalign.core.camera import CameraError, Intrinsics
from roboalign.sensors.clock import DeviceClock
from roboalign.sensors.streaming import Capture, DeviceLostError, EndOfStreamError, StreamingCamera

try:  # the `realsense` extra; everything else in roboalign works without it
    import pyrealsense2 as rs
except ImportError:  # pragma: no cover - depends on the install
    rs = None

_INSTALL = 'pyrealsense2 is not installed: pip install -e ".[realsense]" (and the Debian package libusb-1.0-0)'


@dataclasses.dataclass(frozen=True)
class RealSenseConfig:
    """serial: the camera's serial number ("" = the only one connected).
    width, height (px), fps: the colour (and depth) stream; the device must support them.
    depth: also stream depth, aligned to colour.
    playback_file: a recording (.db3 / .bag) to play instead of a device.
    playback_rate: recorded speed multiple when playing a file (1 = as recorded, 0 = unpaced).
    recorded_timestamps: keep a recording's stamps instead of mapping them onto the host clock."""

    serial: str = ""
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = True
    playback_file: str = ""
    playback_rate: float = 1.0
    recorded_timestamps: bool = False

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.fps < 1:
            raise ValueError(f"RealSenseConfig: width, height and fps must be positive, got "
                             f"{self.width}x{self.height} at {self.fps}")
        if not (math.isfinite(self.playback_rate) and self.playback_rate >= 0):
            raise ValueError(f"RealSenseConfig: playback_rate must be >= 0, got {self.playback_rate}")
        if self.recorded_timestamps and not self.playback_file:
            raise ValueError("RealSenseConfig: recorded_timestamps only applies to a playback_file")


def require_pyrealsense2() -> None:
    if rs is None:
        raise CameraError(_INSTALL)


def connected_devices() -> list[tuple[str, str]]:
    """(serial, product name) of every RealSense librealsense sees (fast, never blocks)."""
    require_pyrealsense2()
    out = []
    for dev in rs.context().query_devices():
        out.append((dev.get_info(rs.camera_info.serial_number), dev.get_info(rs.camera_info.name)))
    return out


def intrinsics_from_rs(intr) -> Intrinsics:
    """pyrealsense2 intrinsics -> Intrinsics. The Brown-Conrady variants use OpenCV's k1 k2 p1
    p2 k3 order, so they map to plumb_bob; Kannala-Brandt (fisheye) to equidistant."""
    model = intr.model
    coeffs = tuple(float(c) for c in intr.coeffs)
    if model == rs.distortion.none or not any(coeffs):
        name, coeffs = "none", ()
    elif model == rs.distortion.kannala_brandt4:
        name, coeffs = "equidistant", coeffs[:4]
    elif model in (rs.distortion.brown_conrady, rs.distortion.modified_brown_conrady,
                   rs.distortion.inverse_brown_conrady):
        name = "plumb_bob"
    else:
        raise CameraError(f"RealSense distortion model {model} has no CameraInfo equivalent")
    return Intrinsics(width=intr.width, height=intr.height, fx=intr.fx, fy=intr.fy, cx=intr.ppx, cy=intr.ppy,
                      distortion_model=name, distortion=coeffs)


@dataclasses.dataclass(frozen=True)
class DecodedFrameset:
    """One frameset, copied out of librealsense's frame pool (holding frames starves it)."""

    rgb: np.ndarray
    depth_mm: np.ndarray | None
    timestamp_ms: float           # the device's stamp of the colour frame
    domain: str                   # "hardware_clock", "global_time", "system_time"
    frame_number: int
    intrinsics: Intrinsics


class FramesetDecoder:
    """Frameset -> DecodedFrameset: depth aligned to colour, depth in mm, colour as RGB.
    depth_scale: metres per depth unit (the depth sensor's get_depth_scale())."""

    def __init__(self, depth_scale: float = 0.001) -> None:
        require_pyrealsense2()
        self.align = rs.align(rs.stream.color)
        self.depth_scale = float(depth_scale)
        self._intrinsics: tuple[int, Intrinsics] | None = None  # (profile unique id, ours): computed once

    def decode(self, frameset, depth: bool = True) -> DecodedFrameset | None:
        """None when the set has no colour frame (e.g. the first, unmatched one)."""
        fs = self.align.process(frameset) if depth else frameset
        color = fs.get_color_frame()
        if not color:
            return None
        fmt = color.get_profile().format()
        data = np.asanyarray(color.get_data())
        if fmt == rs.format.rgb8:
            rgb = np.array(data)
        elif fmt == rs.format.bgr8:
            rgb = np.ascontiguousarray(data[:, :, ::-1])
        elif fmt in (rs.format.rgba8, rs.format.bgra8):
            rgb = np.ascontiguousarray(data[:, :, :3] if fmt == rs.format.rgba8 else data[:, :, 2::-1])
        else:
            raise CameraError(f"RealSense colour format {fmt} is not supported: record or stream rgb8 or bgr8")
        depth_mm = None
        if depth:
            d = fs.get_depth_frame()
            if d:
                raw = np.asanyarray(d.get_data())
                if abs(self.depth_scale - 0.001) < 1e-9:
                    depth_mm = np.array(raw, dtype=np.uint16)
                else:
                    depth_mm = np.clip(np.rint(raw * (self.depth_scale * 1000.0)), 0, 65535).astype(np.uint16)
        profile = color.get_profile()
        if self._intrinsics is None or self._intrinsics[0] != profile.unique_id():
            self._intrinsics = (profile.unique_id(), intrinsics_from_rs(profile.as_video_stream_profile().get_intrinsics()))
        return DecodedFrameset(rgb=rgb, depth_mm=depth_mm, timestamp_ms=float(color.get_timestamp()),
                               domain=str(color.get_frame_timestamp_domain()).rpartition(".")[2],
                               frame_number=int(color.get_frame_number()), intrinsics=self._intrinsics[1])


class RealSenseCamera(StreamingCamera):
    """A RealSense device (or recording) behind core.Camera; see the module docstring."""

    def __init__(self, name: str, config: RealSenseConfig = RealSenseConfig(),
                 clock: Callable[[], float] = time.monotonic, reconnect_interval_s: float = 1.0,
                 lost_after_s: float = 2.0) -> None:
        require_pyrealsense2()
        super().__init__(name, clock=clock, reconnect_interval_s=reconnect_interval_s, lost_after_s=lost_after_s)
        self.config = config
        self.device_clock = DeviceClock()
        self.serial: str | None = None       # of the device (or recording) opened
        self.intrinsics: Intrinsics | None = None
        self._pipe = None
        self._decoder: FramesetDecoder | None = None
        self._playback = None
        self._pace: tuple[float, float] | None = None  # (first recorded stamp ms, monotonic start)

    # ---- StreamingCamera ------------------------------------------------------------------
    def _open(self) -> None:
        cfg = rs.config()
        pipe = rs.pipeline()
        c = self.config
        if c.playback_file:
            path = Path(c.playback_file).expanduser()
            if not path.is_file():
                raise CameraError(f"camera {self.name!r}: RealSense recording {path} does not exist")
            cfg.enable_device_from_file(str(path), repeat_playback=False)
            # Resolve first, then switch off real time, then start: the other order loses the
            # first frames in about 1 run in 4 (recipes/realsense.md, trap 3).
            device = cfg.resolve(rs.pipeline_wrapper(pipe)).get_device()
            self._playback = device.as_playback()
            self._playback.set_real_time(False)
        else:
            self._check_device_present()
            if c.serial:
                cfg.enable_device(c.serial)
            cfg.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
            if c.depth:
                cfg.enable_stream(rs.stream.depth, c.width, c.height, rs.format.z16, c.fps)
            if not cfg.can_resolve(rs.pipeline_wrapper(pipe)):
                what = f"colour{' and depth' if c.depth else ''} {c.width}x{c.height} at {c.fps} Hz"
                raise CameraError(f"camera {self.name!r}: the RealSense {c.serial or ''} cannot stream {what}; "
                                  "list its modes with `rs-enumerate-devices`")
        profile = pipe.start(cfg)
        self._pipe = pipe
        device = profile.get_device()
        self.serial = device.get_info(rs.camera_info.serial_number)
        scale = 0.001
        if c.depth or c.playback_file:
            try:
                scale = device.first_depth_sensor().get_depth_scale()
            except RuntimeError:  # a recording without depth
                scale = 0.001
        self._decoder = FramesetDecoder(scale)
        self.intrinsics = intrinsics_from_rs(profile.get_stream(rs.stream.color).as_video_stream_profile()
                                             .get_intrinsics())
        self.device_clock.reset()
        self._pace = None

    def _check_device_present(self) -> None:
        found = connected_devices()
        serial = self.config.serial
        if not found:
            raise CameraError(f"camera {self.name!r}: no RealSense camera is connected (librealsense sees none): "
                              "check the USB 3 cable and `rs-enumerate-devices`")
        if serial and serial not in [s for s, _ in found]:
            listed = ", ".join(f"{s} ({n})" for s, n in found)
            raise CameraError(f"camera {self.name!r}: no RealSense with serial {serial}; connected: {listed}")
        if not serial and len(found) > 1:
            listed = ", ".join(f"{s} ({n})" for s, n in found)
            raise CameraError(f"camera {self.name!r}: {len(found)} RealSense cameras are connected ({listed}): "
                              "give the serial of this one")

    def _grab(self, timeout_s: float) -> Capture | None:
        ok, frameset = self._pipe.try_wait_for_frames(max(1, int(timeout_s * 1000)))
        if not ok:
            if self._playback is not None and self._playback.current_status() == rs.playback_status.stopped:
                raise EndOfStreamError(f"camera {self.name!r}: end of {self.config.playback_file}")
            return None
        try:
            decoded = self._decoder.decode(frameset, depth=self.config.depth)
        except RuntimeError as exc:  # librealsense lost the device mid-frame
            raise DeviceLostError(str(exc)) from exc
        finally:
            del frameset  # back to the pool at once (recipes/realsense.md, trap 2)
        if decoded is None:
            return None
        self._wait_for_playback_time(decoded.timestamp_ms)
        if self.config.recorded_timestamps:
            capture_time = decoded.timestamp_ms / 1000.0
        else:
            capture_time = self.device_clock.to_host(decoded.timestamp_ms / 1000.0, self.clock())
        return Capture(image=decoded.rgb, capture_time=capture_time, device_sequence=decoded.frame_number,
                       depth=decoded.depth_mm, intrinsics=decoded.intrinsics)

    def _wait_for_playback_time(self, stamp_ms: float) -> None:
        """A recording is played at `playback_rate` times its recorded pace (0: unpaced)."""
        rate = self.config.playback_rate
        if self._playback is None or rate == 0:
            return
        if self._pace is None:
            self._pace = (stamp_ms, time.monotonic())
        due = self._pace[1] + (stamp_ms - self._pace[0]) / 1000.0 / rate
        self._stop.wait(max(0.0, due - time.monotonic()))

    def _close(self) -> None:
        pipe, self._pipe, self._playback = self._pipe, None, None
        if pipe is not None:
            try:
                pipe.stop()
            except RuntimeError:
                pass
