"""StreamingCamera, the background reader every driver shares: freshest frame, staleness,
drops and reconnection, pinned down with a scripted device (the drivers' own tests run the real
libraries: test_opencv_camera.py, test_realsense_camera.py)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from roboalign.core.camera import CameraError, FrameTimeoutError, NotConnectedError, StaleFrameError
from roboalign.sensors.streaming import Capture, DeviceLostError, StreamingCamera


class ScriptedDevice(StreamingCamera):
    """Delivers a frame every `period` s, numbered by its own counter; `plugged` and `skip`
    let a test unplug it or make it skip counter values (frames dropped on the device)."""

    def __init__(self, period=0.01, **kwargs):
        super().__init__("front", **kwargs)
        self.period = period
        self.plugged = threading.Event()
        self.plugged.set()
        self.counter = 0
        self.skip = 0
        self.opens = 0

    def _open(self):
        if not self.plugged.is_set():
            raise CameraError("camera 'front': not plugged in")
        self.opens += 1

    def _grab(self, timeout_s):
        time.sleep(self.period)
        if not self.plugged.is_set():
            raise DeviceLostError("USB disconnect")
        self.counter += 1 + self.skip
        self.skip = 0
        return Capture(np.full((4, 4, 3), self.counter % 256, np.uint8), self.clock(), device_sequence=self.counter)

    def _close(self):
        pass


@pytest.fixture
def camera():
    cams = []

    def make(**kwargs):
        cams.append(ScriptedDevice(**kwargs))
        return cams[-1]

    yield make
    for cam in cams:
        cam.disconnect()


def test_reading_before_connect_says_to_connect(camera):
    cam = camera()
    with pytest.raises(NotConnectedError, match="connect"):
        cam.read_latest(1.0)


def test_a_device_that_cannot_open_fails_connect_at_once(camera):
    cam = camera()
    cam.plugged.clear()
    start = time.monotonic()
    with pytest.raises(CameraError, match="not plugged in"):
        cam.connect()
    assert time.monotonic() - start < 0.5 and not cam.is_connected


def test_read_never_returns_the_same_frame_twice(camera):
    cam = camera()
    cam.connect()
    seqs = [cam.read(1.0).sequence for _ in range(5)]
    assert all(b > a for a, b in zip(seqs, seqs[1:]))


def test_read_latest_hands_over_the_freshest_frame_without_waiting(camera):
    cam = camera()
    cam.connect()
    cam.read(1.0)
    time.sleep(0.1)
    start = time.monotonic()
    frame = cam.read_latest(0.5)
    assert time.monotonic() - start < 0.005
    assert frame.sequence >= cam.status().frames - 1  # the newest, not a queued old one
    assert frame.age(time.monotonic()) < 0.05


def test_a_stale_frame_is_refused_naming_the_camera(camera):
    cam = camera(period=0.01, lost_after_s=10.0)
    cam.connect()
    cam.read(1.0)
    cam.plugged.clear()   # no more frames
    time.sleep(0.15)
    with pytest.raises(StaleFrameError, match="'front'.*old"):
        cam.read_latest(0.1)


def test_read_times_out_when_no_new_frame_comes(camera):
    cam = camera(period=0.01, lost_after_s=10.0)
    cam.connect()
    cam.read(1.0)
    cam.plugged.clear()
    with pytest.raises(FrameTimeoutError, match="no new frame within"):
        cam.read(0.2)


def test_gaps_in_the_device_counter_are_counted_as_dropped_frames(camera):
    cam = camera()
    cam.connect()
    first = cam.read(1.0)
    cam.skip = 3
    frame = cam.read(1.0)
    while frame.sequence - first.sequence < 4:
        frame = cam.read(1.0)
    assert cam.status().dropped == 3


def test_a_device_that_drops_out_is_reported_and_reopened(camera):
    cam = camera(period=0.01, reconnect_interval_s=0.05)
    cam.connect()
    before = cam.read(1.0)
    cam.plugged.clear()                 # USB drop
    deadline = time.monotonic() + 2.0
    while cam.status().error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    status = cam.status()
    assert "not plugged in" in status.error or "USB disconnect" in status.error
    assert not status.streaming
    cam.plugged.set()                   # plugged back in
    after = cam.read(2.0)
    status = cam.status()
    assert after.sequence > before.sequence and status.streaming and status.error is None
    assert status.reconnects == 1 and cam.opens == 2


def test_a_device_silent_for_lost_after_s_is_reopened(camera):
    class Silent(ScriptedDevice):
        silent = False

        def _grab(self, timeout_s):
            if self.silent:
                time.sleep(timeout_s)
                return None
            return super()._grab(timeout_s)

    cam = Silent(period=0.01, reconnect_interval_s=0.05, lost_after_s=0.2)
    try:
        cam.connect()
        cam.read(1.0)
        cam.silent = True
        time.sleep(0.5)
        assert cam.status().reconnects >= 1  # declared lost after 0.2 s of silence, then reopened
        cam.silent = False
        cam.read(1.0)
    finally:
        cam.disconnect()


def test_status_measures_the_frame_rate(camera):
    cam = camera(period=0.02)
    cam.connect()
    time.sleep(0.6)
    rate = cam.status().rate_hz
    assert 25.0 < rate < 55.0  # 50 Hz asked; sleep granularity and a busy machine slow it
