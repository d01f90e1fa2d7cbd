"""OpenCVCamera on a real video file through cv2.VideoCapture (a file vanishing is a camera
unplugged: reported, then reopened when it is back), EpisodeReplayCamera on a saved episode,
and the source strings that name them."""
from __future__ import annotations

import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from roboalign.core.camera import CameraError, FrameTimeoutError, Intrinsics  # noqa: E402
from roboalign.data.episode import Episode  # noqa: E402
from roboalign.sensors.opencv import OpenCVCamera  # noqa: E402
from roboalign.sensors.replay import EpisodeReplayCamera  # noqa: E402
from roboalign.sensors.sources import CameraSource, open_source  # noqa: E402


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), (0, 0, 25 * i), np.uint8))  # BGR: red ramps up
    writer.release()
    return path


def test_a_video_file_streams_rgb_frames_at_its_rate(video):
    cam = OpenCVCamera("front", str(video))
    cam.connect()
    try:
        frames = [cam.read(1.0) for _ in range(15)]  # past the end: the file is opened again
    finally:
        cam.disconnect()
    red = [int(f.image[0, 0, 0]) for f in frames]
    assert red[:10] == pytest.approx([25 * i for i in range(10)], abs=4) and red[10] < 5  # RGB, then again
    assert frames[0].image[0, 0, 2] < 5
    times = np.diff([f.capture_time for f in frames])
    assert 0.01 < np.median(times) < 0.05  # 50 fps file, paced


def test_asking_for_a_size_the_source_does_not_deliver_is_refused(video):
    with pytest.raises(CameraError, match="asked for 640x480.*delivers 64x48"):
        OpenCVCamera("front", str(video), width=640, height=480).connect()


def test_an_opencv_source_that_vanishes_is_reported_and_reopened(video, tmp_path):
    cam = OpenCVCamera("front", str(video), reconnect_interval_s=0.05)
    cam.connect()
    try:
        cam.read(1.0)
        hidden = tmp_path / "away.avi"
        video.rename(hidden)                          # the camera goes away
        deadline = time.monotonic() + 3.0
        while "does not exist" not in (cam.status().error or "") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "does not exist" in cam.status().error and not cam.status().streaming
        frames_while_away = cam.status().frames
        hidden.rename(video)                          # and comes back
        deadline = time.monotonic() + 3.0
        while cam.status().frames == frames_while_away and time.monotonic() < deadline:
            time.sleep(0.02)
        status = cam.status()
        assert status.frames > frames_while_away and status.streaming and status.error is None
        assert status.reconnects == 1
    finally:
        cam.disconnect()


def test_a_missing_uvc_device_is_named():
    with pytest.raises(CameraError, match="/dev/video99 does not exist"):
        OpenCVCamera("front", "/dev/video99").connect()


@pytest.fixture
def episode(tmp_path):
    images = np.zeros((6, 8, 8, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(6)
    ep = Episode(instruction="touch", images={"wrist": images}, joint_positions=np.zeros((6, 2)),
                 actions=np.zeros((6, 2)), timestamps=np.arange(6) * 0.02, success=True, dt=0.02)
    return ep.save(tmp_path / "episode_000000")


def test_an_episode_replays_its_frames_in_order_at_the_recorded_pace_then_ends(episode):
    k = Intrinsics(8, 8, 10.0, 10.0, 4.0, 4.0)
    cam = EpisodeReplayCamera("wrist", episode, intrinsics=k)
    cam.connect()
    try:
        frames = [cam.read(1.0) for _ in range(6)]
        with pytest.raises(FrameTimeoutError, match="no more frames"):
            cam.read(1.0)
        assert cam.status().ended
    finally:
        cam.disconnect()
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(6))
    assert np.diff([f.capture_time for f in frames]).min() > 0.01 and frames[0].intrinsics == k


def test_an_episode_without_the_camera_is_refused(episode):
    with pytest.raises(CameraError, match="has no camera 'front' \\(it has wrist\\)"):
        EpisodeReplayCamera("front", episode).connect()


@pytest.mark.parametrize("text, kind, target, camera", [
    ("realsense", "realsense", "", ""),
    ("realsense:123622270882", "realsense", "123622270882", ""),
    ("run.db3", "realsense-file", "run.db3", ""),
    ("realsense-file:old.bag", "realsense-file", "old.bag", ""),
    ("/dev/video0", "opencv", "/dev/video0", ""),
    ("2", "opencv", "2", ""),
    ("opencv:rtsp://10.0.0.5/stream", "opencv", "rtsp://10.0.0.5/stream", ""),
    ("episode:demos/episode_000003#wrist", "episode", "demos/episode_000003", "wrist"),
])
def test_source_strings_name_their_driver(text, kind, target, camera):
    assert CameraSource.parse(text) == CameraSource(kind, target, camera)


def test_an_unknown_source_lists_the_forms():
    with pytest.raises(ValueError, match="realsense\\[:SERIAL\\]"):
        CameraSource.parse("kinect:1")


def test_open_source_builds_the_driver_without_opening_it(episode):
    cam = open_source("wrist", f"episode:{episode}")
    assert isinstance(cam, EpisodeReplayCamera) and not cam.is_connected
