"""The monitors behind the safety node's stops: joint-state freshness, following error, e-stop
sources and their heartbeat (roboalign.control.monitors), driven with explicit times."""
from __future__ import annotations

import math

import numpy as np
import pytest
from control_spec import HOME
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.monitors import EStopMonitor, FollowingErrorMonitor, JointStateMonitor

NAMES = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper")


# ---- joint-state freshness ------------------------------------------------------------------------
def test_when_stamps_advance_expect_fresh_and_never_stale():
    m = JointStateMonitor(timeout=0.1)
    for k in range(100):
        assert m.update(stamp=1000.0 + 0.01 * k, positions=HOME, now=5.0 + 0.01 * k)
        assert m.stale_reason(5.0 + 0.01 * k + 0.05) is None
    assert m.repeats == 0 and m.max_gap == pytest.approx(0.01)


def test_when_stamp_repeats_expect_not_fresh_and_stale_after_timeout():
    m = JointStateMonitor(timeout=0.1)
    assert m.update(1000.0, HOME, now=0.0)
    for k in range(1, 30):  # a frozen driver republishing its last sample at 100 Hz
        assert not m.update(1000.0, HOME, now=0.01 * k)
    assert m.repeats == 29
    assert m.stale_reason(0.1) is None
    reason = m.stale_reason(0.29)
    assert reason is not None and "stale by 0.290 s" in reason and "limit 0.100 s" in reason


def test_when_stamp_goes_back_or_positions_are_not_finite_expect_not_fresh():
    m = JointStateMonitor(timeout=0.1)
    assert m.update(1000.0, HOME, now=0.0)
    assert not m.update(999.0, HOME, now=0.01)           # a clock jumping back
    assert not m.update(1001.0, HOME * np.nan, now=0.02)  # junk is no sign of life
    assert not m.update(math.nan, HOME, now=0.03)
    assert m.age(0.05) == pytest.approx(0.05)


def test_before_the_first_joint_state_expect_never_stale():
    m = JointStateMonitor(timeout=0.1)
    assert not m.started and m.stale_reason(1e6) is None and m.age(3.0) == math.inf


def test_restart_counts_staleness_from_now_and_a_frozen_stamp_stays_unfresh():
    m = JointStateMonitor(timeout=0.1)
    m.update(1000.0, HOME, now=0.0)
    m.restart(now=5.0)
    assert m.stale_reason(5.05) is None and m.stale_reason(5.2) is not None
    assert not m.update(1000.0, HOME, now=5.01)


# ---- following error --------------------------------------------------------------------------------
def _trajectory(t: float) -> np.ndarray:
    """A smooth arm motion, up to ~1.2 rad/s per joint."""
    phase = np.arange(7)
    return HOME + 0.4 * np.sin(3.0 * t + phase)


@settings(max_examples=60, deadline=None)
@given(lag=st.floats(0.0, 0.2), period=st.sampled_from([0.002, 0.01, 0.02]), speed=st.floats(0.1, 5.0))
def test_when_arm_lags_its_command_by_less_than_the_delay_expect_no_error(lag, period, speed):
    """Whatever the motion and the control rate, a measured arm that replays its commands up to
    `delay` late is inside the envelope: its error is exactly zero."""
    m = FollowingErrorMonitor(NAMES, limit=0.05, delay=0.2, duration=0.0)
    t = 0.0
    sent: list[tuple[float, np.ndarray]] = []
    while t < 2.0:
        m.command(_trajectory(speed * t), t)
        sent.append((t, _trajectory(speed * t)))
        # The arm is where the command in effect at (t - lag) put it.
        older = [q for ts, q in sent if ts <= t - lag]
        if older:
            assert m.measure(older[-1], t) is None
            assert float(m.error(older[-1], t).max()) == 0.0
        t += period


def test_when_a_joint_is_blocked_expect_fault_after_the_duration_naming_it():
    m = FollowingErrorMonitor(NAMES, limit=0.1, delay=0.1, duration=0.05)
    blocked = HOME.copy()
    faults = []
    for k in range(100):  # 1 rad/s on joint3, which does not move at all
        t = 0.01 * k
        q = HOME.copy()
        q[2] += 1.0 * t
        m.command(q, t)
        fault = m.measure(blocked, t)
        if fault is not None:
            faults.append((t, fault))
    assert faults, "a blocked joint must be caught"
    t, fault = faults[0]
    # Envelope start passes 0.1 rad at t = 0.2 s (the window is 0.1 s), + 0.05 s over the limit.
    assert fault.joint == "joint3" and 0.24 <= t <= 0.27
    assert fault.error > 0.1 and fault.duration >= 0.05
    assert "joint3" in fault.reason(m.limit) and "limit 0.100 rad" in fault.reason(m.limit)


def test_when_the_error_is_brief_expect_no_fault():
    m = FollowingErrorMonitor(NAMES, limit=0.1, delay=0.0, duration=0.1)
    for k in range(50):
        t = 0.01 * k
        m.command(HOME, t)
        bump = HOME + (0.3 if 10 <= k < 18 else 0.0)  # 80 ms out of bounds, then back
        assert m.measure(bump, t) is None
    assert m.peak == pytest.approx(0.3)


def test_unmonitored_joints_never_count():
    mask = [True] * 6 + [False]  # the gripper: closing on an object blocks it by design
    m = FollowingErrorMonitor(NAMES, limit=0.1, delay=0.0, duration=0.0, monitored=mask)
    m.command(HOME, 0.0)
    grasp = HOME.copy()
    grasp[6] += 0.9
    assert m.measure(grasp, 0.01) is None and m.peak == 0.0


def test_when_measurement_is_not_finite_expect_fault_not_silence():
    m = FollowingErrorMonitor(NAMES, limit=0.1, delay=0.1, duration=0.0)
    m.command(HOME, 0.0)
    bad = HOME.copy()
    bad[0] = np.nan
    fault = m.measure(bad, 0.01)
    assert fault is not None and fault.joint == "joint1" and fault.error == math.inf


def test_after_clear_expect_nothing_compared_until_the_next_command():
    m = FollowingErrorMonitor(NAMES, limit=0.1, delay=0.1, duration=0.0)
    m.command(HOME, 0.0)
    m.clear()
    assert m.measure(HOME + 1.0, 0.01) is None
    m.command(HOME + 1.0, 0.02)
    assert m.measure(HOME + 1.0, 0.03) is None and m.measure(HOME, 0.04) is not None


@pytest.mark.parametrize("kwargs", [dict(limit=0.0), dict(limit=math.nan), dict(delay=-0.1), dict(duration=math.inf)])
def test_when_following_settings_are_invalid_expect_value_error(kwargs):
    with pytest.raises(ValueError):
        FollowingErrorMonitor(NAMES, **{"limit": 0.1, "delay": 0.1, "duration": 0.1, **kwargs})


# ---- e-stop sources ------------------------------------------------------------------------------
def test_without_heartbeat_expect_the_newest_message_wins_whoever_sent_it():
    m = EStopMonitor(heartbeat_timeout=None)
    m.update("button", True, 0.0)
    m.update("console", False, 1.0)
    assert not m.asserted and m.sources == 1
    assert m.heartbeat_reason(1e6) is None


def test_with_heartbeat_expect_any_source_asserting_to_assert():
    m = EStopMonitor(heartbeat_timeout=0.2)
    m.update("pedal", False, 0.0)
    m.update("keyboard", True, 0.05)
    m.update("pedal", False, 0.1)
    assert m.asserted and m.sources == 2


def test_with_heartbeat_expect_no_source_or_a_silent_one_to_be_a_lost_heartbeat():
    m = EStopMonitor(heartbeat_timeout=0.2)
    assert "no e-stop heartbeat" in m.heartbeat_reason(0.0)
    m.update("pedal", False, 0.0)
    m.update("keyboard", False, 0.0)
    assert m.heartbeat_reason(0.2) is None
    m.update("pedal", False, 0.3)
    reason = m.heartbeat_reason(0.3)
    assert reason is not None and "1 of 2 source(s) silent (keyboard) for 0.300 s" in reason
    assert m.forget_silent(0.3) == 1 and m.heartbeat_reason(0.3) is None
