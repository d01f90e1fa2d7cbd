"""RealSenseCamera through the real pyrealsense2, no hardware: librealsense's software device
feeds the frameset decoding (align, depth units, formats), and a .db3 it recorded plays back
through the camera's own rs.pipeline code (recipes/realsense.md)."""
from __future__ import annotations

import time

import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2")

from roboalign.core.camera import CameraError, FrameTimeoutError  # noqa: E402
from roboalign.sensors.realsense import FramesetDecoder, RealSenseCamera, RealSenseConfig  # noqa: E402
from roboalign.sensors.realsense_software import SoftwareRealSense, StreamModel, write_recording  # noqa: E402

W, H, FPS = 128, 96, 30
T0_MS = 1.7e12  # global-time stamps: ms since the epoch, as a D4xx with global time enabled sends


def pattern(n: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = n % 256
    rgb[..., 1] = np.arange(W, dtype=np.uint8)[None, :]
    rgb[..., 2] = 200
    depth = np.full((H, W), 1000 + n, np.uint16)
    return rgb, depth


def decoded_pairs(cam: SoftwareRealSense, frames, depth_scale=0.001):
    sync = cam.start_syncer()
    decoder = FramesetDecoder(depth_scale)
    out = []
    for n, (rgb, depth) in enumerate(frames):
        cam.push(rgb, depth, n, T0_MS + n * 1000 / FPS)
        while (fs := sync.poll_for_frames()):
            if fs.size() == 2:  # push #0 comes out as two single frames (recipe)
                out.append(decoder.decode(fs))
    cam.stop()
    return out


def test_depth_is_aligned_to_the_colour_image():
    # An 80 mm-wide square 1 m away, seen by a depth imager with fx 80 and a colour imager with
    # fx 120, 15 mm apart: in colour pixels it is 1.5x wider and shifted by 120 * 0.015 = 1.8 px.
    cam = SoftwareRealSense(W, H, FPS, color=StreamModel(120.0, 120.0, W / 2, H / 2),
                            depth=StreamModel(80.0, 80.0, W / 2, H / 2), baseline_m=0.015)
    depth = np.zeros((H, W), np.uint16)
    depth[H // 2 - 4:H // 2 + 4, W // 2 - 4:W // 2 + 4] = 1000
    rgb = np.zeros((H, W, 3), np.uint8)
    out = decoded_pairs(cam, [(rgb, depth)] * 3)
    aligned = out[-1].depth_mm
    v, u = np.nonzero(aligned)
    assert aligned[v, u].min() == 1000 and aligned.max() == 1000  # millimetres kept
    assert u.mean() == pytest.approx(W / 2 - 0.5 + 1.8, abs=0.5) and v.mean() == pytest.approx(H / 2 - 0.5, abs=0.5)
    assert np.ptp(u) + 1 == pytest.approx(12, abs=1.5)  # 8 px at fx 80 -> 12 px at fx 120


@pytest.mark.parametrize("color_format", ["rgb8", "bgr8"])
def test_colour_comes_out_rgb_with_its_stamp_number_and_intrinsics(color_format):
    cam = SoftwareRealSense(W, H, FPS, color=StreamModel(100.0, 101.0, 63.5, 47.5), color_format=color_format)
    out = decoded_pairs(cam, [pattern(n) for n in range(4)])
    last = out[-1]
    np.testing.assert_array_equal(last.rgb, pattern(3)[0])
    assert last.frame_number == 3 and last.timestamp_ms == pytest.approx(T0_MS + 100.0)
    assert last.domain == "global_time"
    k = last.intrinsics
    assert (k.width, k.height, k.fx, k.fy, k.cx, k.cy) == (W, H, 100.0, 101.0, 63.5, 47.5)


def test_depth_in_tenth_millimetre_units_is_converted_to_millimetres():
    cam = SoftwareRealSense(W, H, FPS, depth_units=0.0001)  # a D405 counts 0.1 mm
    out = decoded_pairs(cam, [pattern(n) for n in range(3)], depth_scale=0.0001)
    assert np.all(out[-1].depth_mm[H // 4:-H // 4, W // 4:-W // 4] == 1002)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    frames = [(*pattern(n), T0_MS + n * 1000 / FPS) for n in range(20)]
    cam = SoftwareRealSense(W, H, FPS, color=StreamModel(100.0, 100.0, 64.0, 48.0), serial="123622270882")
    return write_recording(tmp_path_factory.mktemp("rs") / "session.db3", frames, cam)


def read_all(cam: RealSenseCamera) -> list:
    frames = []
    while True:
        try:
            frames.append(cam.read(2.0))
        except FrameTimeoutError:
            return frames


def test_a_recording_plays_back_with_its_original_stamps_depth_and_intrinsics(recording):
    cam = RealSenseCamera("wrist", RealSenseConfig(playback_file=str(recording), width=W, height=H,
                                                   recorded_timestamps=True, playback_rate=4.0))
    cam.connect()
    try:
        frames = read_all(cam)
        status = cam.status()
    finally:
        cam.disconnect()
    assert cam.serial == "123622270882" and status.ended
    numbers = [int(f.image[0, 0, 0]) for f in frames]
    assert numbers == list(range(numbers[0], 20)) and numbers[0] <= 1  # frame #0 may be lost (trap 3)
    for n, f in zip(numbers, frames):
        assert f.capture_time == pytest.approx((T0_MS + n * 1000 / FPS) / 1000.0, abs=1e-6)
        assert f.depth is not None and f.depth[H // 2, W // 2] == 1000 + n
    k = frames[-1].intrinsics
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (100.0, 100.0, 64.0, 48.0, W, H)


def test_played_back_stamps_are_mapped_onto_the_host_clock_at_the_recorded_pace(recording):
    cam = RealSenseCamera("wrist", RealSenseConfig(playback_file=str(recording), width=W, height=H))
    cam.connect()
    try:
        frames = read_all(cam)
    finally:
        cam.disconnect()
    times = np.array([f.capture_time for f in frames])
    assert abs(times[-1] - time.monotonic()) < 2.0  # on the host's monotonic clock, not 2023
    np.testing.assert_allclose(np.diff(times), 1 / FPS, atol=2e-3)  # spacing as the device stamped it


def test_no_camera_plugged_in_is_said_at_once_not_after_15_s():
    cam = RealSenseCamera("front", RealSenseConfig(serial="000000000001"))
    start = time.monotonic()
    with pytest.raises(CameraError, match="no RealSense camera is connected"):
        cam.connect()
    assert time.monotonic() - start < 1.0


def test_a_missing_recording_is_named(tmp_path):
    cam = RealSenseCamera("front", RealSenseConfig(playback_file=str(tmp_path / "nope.db3")))
    with pytest.raises(CameraError, match="nope.db3 does not exist"):
        cam.connect()
