"""DeviceClock: device frame stamps mapped onto the host clock without the transport jitter."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.sensors.clock import DeviceClock


def frames(n=300, fps=30.0, offset=1000.0, min_delay=0.004, jitter=0.020, seed=0, drift_ppm=0.0):
    """(device stamp, arrival, true host capture time) of n frames: arrival = capture + a delay
    of at least min_delay plus exponential jitter (USB scheduling, a busy CPU)."""
    rng = np.random.default_rng(seed)
    host_capture = 50.0 + np.arange(n) / fps
    device = (host_capture - 50.0) * (1.0 + drift_ppm * 1e-6) + offset
    arrival = host_capture + min_delay + rng.exponential(jitter / 3, n)
    return device, arrival, host_capture


def test_mapped_capture_times_remove_the_arrival_jitter():
    device, arrival, truth = frames()
    clock = DeviceClock()
    mapped = np.array([clock.to_host(d, a) for d, a in zip(device, arrival)])
    settled = slice(30, None)  # after one second the window has seen a fast transfer
    error = mapped[settled] - truth[settled]
    assert np.abs(arrival[settled] - truth[settled]).max() > 0.02  # the raw arrival jitter is tens of ms
    assert error.min() >= 0.0 and error.max() < 0.0045  # mapped: the fastest transfer (4 ms) at most
    assert np.ptp(np.diff(mapped[settled])) < 1e-3  # frame spacing as the device stamped it


def test_a_mapped_time_never_lies_after_the_frames_arrival():
    device, arrival, _ = frames(seed=3)
    clock = DeviceClock()
    assert all(clock.to_host(d, a) <= a + 1e-12 for d, a in zip(device, arrival))


def test_a_device_clock_that_jumps_starts_a_new_window():
    clock = DeviceClock(reset_after_s=1.0)
    for k in range(10):
        clock.to_host(100.0 + k / 30, 5.0 + k / 30 + 0.005)
    # the device restarted: its clock begins again near 0
    assert clock.to_host(0.5, 5.5) == pytest.approx(5.5)
    assert clock.resets == 1


def test_slow_drift_between_the_clocks_is_followed():
    device, arrival, truth = frames(n=30 * 120, drift_ppm=50.0, seed=1)  # two minutes, 50 ppm
    clock = DeviceClock(window_s=10.0)
    mapped = np.array([clock.to_host(d, a) for d, a in zip(device, arrival)])
    assert np.abs(mapped[-300:] - truth[-300:]).max() < 0.005
