"""ChunkExecutor, cubic interpolation (the default): real-time chunking with latency compensation.

What it promises (control/executor.py): a velocity-continuous plan that never overshoots a
chunk's points; the playing plan is kept until the new chunk's first point at or after its
arrival, then blended into it continuously; a point already in the past is never played; bad
chunks are refused with a reason and change nothing; every command lies within the range of the
accepted points (clamped into the position band) and the start positions; the stream keeps
within limit_scale x the spec's velocity and acceleration limits where the chunks allow.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from control_spec import HOME, make_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.executor import ChunkExecutor
from roboalign.control.safety import SafetyFilter, SafetyState
from roboalign.core.action import ActionChunk

SPEC = make_spec()
PERIOD = SPEC.control_period  # 0.02 s


def chunk_at(start: float, points: np.ndarray, dt: float = 0.1, observation_time: float | None = None) -> ActionChunk:
    return ActionChunk(actions=np.asarray(points, dtype=np.float64), start_time=start, dt=dt,
                       provenance="test", observation_time=observation_time)


def ramp(start: float, q0: np.ndarray, slope: float = 0.5, h: int = 16, dt: float = 0.1, joint: int = 0) -> ActionChunk:
    actions = np.repeat(q0[None], h, axis=0)
    actions[:, joint] += slope * dt * np.arange(h)
    return chunk_at(start, actions, dt)


def stream(ex: ChunkExecutor, t0: float, t1: float, step: float = PERIOD) -> np.ndarray:
    return np.array([ex.command(t) for t in np.arange(t0, t1, step)])


def test_after_the_join_the_plan_passes_every_point_and_never_overshoots_between_them():
    t = 0.1 * np.arange(16)[:, None]
    points = HOME + 0.1 * np.sin(np.pi * t + np.arange(7))  # within the limits: no stretching
    points[:, 6] += 0.5
    ex = ChunkExecutor(SPEC)
    ex.reset(points[0])
    ex.submit(chunk_at(10.0, points), now=10.0)
    for k in range(8, 15):  # after the blend from rest
        np.testing.assert_allclose(ex.command(10.0 + 0.1 * k), points[k], atol=1e-9)
        between = np.array([ex.command(t) for t in np.linspace(10.0 + 0.1 * k, 10.1 + 0.1 * k, 21)])
        low, high = np.minimum(points[k], points[k + 1]), np.maximum(points[k], points[k + 1])
        assert np.all(between >= low - 1e-9) and np.all(between <= high + 1e-9)


def test_a_late_chunks_past_points_are_never_commanded():
    ex = ChunkExecutor(SPEC)
    ex.reset(HOME)
    ex.submit(chunk_at(9.0, np.repeat(HOME[None], 16, axis=0)), now=9.0)
    late = np.repeat(HOME[None], 16, axis=0)
    late[:3, 0] += 0.8   # what the policy wanted at 10.0 .. 10.2: long past when it arrives
    late[3:, 0] += 0.1
    assert ex.submit(chunk_at(10.0, late), now=10.35).accepted
    assert ex.stats.late == 1 and ex.stats.past_points == 4
    joint0 = stream(ex, 10.35, 12.0)[:, 0]
    assert joint0.max() <= HOME[0] + 0.1 + 1e-9          # never towards the past points' 0.8
    assert joint0[-1] == pytest.approx(HOME[0] + 0.1)      # the chunk's future is played


def test_the_playing_plan_is_kept_until_the_chunk_arrives_then_joined_continuously():
    twin, ex = ChunkExecutor(SPEC), ChunkExecutor(SPEC)
    for e in (twin, ex):
        e.reset(HOME)
        e.submit(ramp(10.0, HOME), now=10.0)
    before = [(ex.command(t), twin.command(t)) for t in np.arange(10.0, 10.45, PERIOD)]
    assert all(np.array_equal(a, b) for a, b in before)
    # Inferred from the observation at 10.40, arriving 50 ms later, 0.1 rad off on joint2.
    ex.submit(ramp(10.4, HOME + np.array([0, 0.1, 0, 0, 0, 0, 0])), now=10.45)
    ts = 10.45 + 0.001 * np.arange(-3, 4)
    joined, kept = np.array([ex.command(t) for t in ts[3:]]), np.array([twin.command(t) for t in ts])
    np.testing.assert_allclose(joined[0], kept[3], atol=1e-12)                      # same position
    # Same velocity (rad per ms; up to the resampling of the first chunk's blend, still running).
    np.testing.assert_allclose(np.diff(joined, axis=0)[0], np.diff(kept, axis=0)[3], atol=1e-6)
    assert ex.command(11.2)[1] == pytest.approx(HOME[1] + 0.1)  # then the new chunk takes over


def test_the_first_chunk_after_reset_joins_from_the_measured_joints_at_rest():
    ex = ChunkExecutor(SPEC)
    start = HOME + 0.2
    start[6] = 0.5
    ex.reset(start)
    ex.submit(ramp(10.0, HOME, slope=0.8), now=10.0)
    out = stream(ex, 10.0, 13.0, 0.001)
    np.testing.assert_allclose(out[0], start)
    assert np.max(np.abs(out[1] - out[0])) < 1e-5                         # at rest at first
    np.testing.assert_allclose(out[-1], np.clip(ramp(10.0, HOME, slope=0.8).actions[-1], ex.lower, ex.upper))


def test_the_inference_delay_is_measured_from_the_observation():
    ex = ChunkExecutor(SPEC)
    ex.submit(chunk_at(10.0, np.repeat(HOME[None], 8, axis=0), observation_time=9.9), now=10.05)
    assert ex.last_delay == pytest.approx(0.15)
    ex.submit(chunk_at(10.4, np.repeat(HOME[None], 8, axis=0)), now=10.47)  # no observation_time: its start
    assert ex.last_delay == pytest.approx(0.07) and ex.max_delay == pytest.approx(0.15)


def test_a_segment_beyond_the_limits_is_slowed_down_not_skipped():
    ex = ChunkExecutor(SPEC)
    points = np.repeat(HOME[None], 8, axis=0)
    points[3:, 0] += 1.0  # 1 rad between two points 0.1 s apart: 10 rad/s asked, 1.5 allowed
    ex.reset(HOME)
    ex.submit(chunk_at(10.0, points), now=10.0)
    joint0 = stream(ex, 10.0, 14.0)[:, 0]
    velocity = np.diff(joint0) / PERIOD
    assert np.max(np.abs(velocity)) <= ex.max_velocity[0] + 1e-9
    assert np.max(np.abs(np.diff(velocity))) / PERIOD <= ex.max_acceleration[0] + 1e-6
    assert joint0[-1] == pytest.approx(HOME[0] + 1.0)   # the point is reached, later than asked


def test_blends_never_nest_however_fast_chunks_arrive():
    ex = ChunkExecutor(SPEC, crossfade=0.5)
    ex.reset(HOME)
    for k in range(200):
        t = 10.0 + 0.01 * k
        ex.submit(ramp(t, HOME + 0.05 * (k % 3)), now=t)
        assert np.all(np.isfinite(ex.command(t)))
        node = ex._trajectory
        assert not hasattr(node.old, "old") and not hasattr(node.new, "old")


# ---- properties ------------------------------------------------------------------------------
def chunk_events():
    """A sequence of (chunk, arrival delay, time to the next chunk): smooth chunks whose points
    stay within the limits (up to 1 rad/s), each offset from the last, arriving 0..0.3 s late."""
    one = st.tuples(
        st.lists(st.floats(-0.3, 0.3), min_size=7, max_size=7),   # offset from HOME (rad)
        st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=7),   # slope (rad/s)
        st.integers(1, 16),                                      # horizon
        st.sampled_from([0.05, 0.1, 0.2]),                       # dt (s)
        st.floats(0.0, 0.3),                                     # arrival after its start (s)
        st.floats(0.05, 0.6),                                    # until the next chunk's start (s)
    )
    return st.lists(one, min_size=1, max_size=8)


def play(events, with_bad: bool = False, step: float = PERIOD):
    """Run the executor through `events`; returns (times, commands, accepted clamped points, ex)."""
    ex = ChunkExecutor(SPEC)
    ex.reset(HOME)
    accepted = [HOME[None]]  # the start (as given) and every accepted chunk's clamped points
    t, start, out, times = 10.0, 10.0, [], []
    for offset, slope, h, dt, delay, gap in events:
        points = HOME + np.asarray(offset) + np.outer(dt * np.arange(h), slope)
        points = np.clip(points, SPEC.limits.lower, SPEC.limits.upper)
        arrival = start + delay
        while t < arrival:
            command = ex.command(t)
            if command is not None:  # nothing before the first chunk
                out.append(command)
                times.append(t)
            t += step
        if with_bad:  # each kind of bad chunk just before the good one: refused, nothing changes
            bad = points.copy()
            bad[0, 2] = math.nan
            for chunk in (chunk_at(start, bad, dt), chunk_at(start, points[:, :6], dt),
                          chunk_at(start - 100.0, points, dt)):
                result = ex.submit(chunk, now=t)
                assert not result.accepted and result.reason
        if ex.submit(chunk_at(start, points, dt), now=t).accepted:
            first = max(int(np.searchsorted(start + dt * np.arange(h), t, side="right")) - 1, 0)
            accepted.append(np.clip(points[first:], ex.lower, ex.upper))  # from the last one before arrival
        start += gap
    end = t + 2.5
    while t < end:
        command = ex.command(t)
        if command is not None:
            out.append(command)
            times.append(t)
        t += step
    return np.array(times), np.array(out).reshape(-1, SPEC.dof), np.vstack(accepted), ex


@settings(max_examples=60, deadline=None)
@given(chunk_events())
def test_commands_are_finite_and_within_the_accepted_points_and_the_start(events):
    _, out, accepted, _ = play(events)
    assert np.all(np.isfinite(out))
    tolerance = 1e-4  # a blend still playing when the next chunk joins is resampled (executor docstring)
    assert np.all(out >= accepted.min(0) - tolerance) and np.all(out <= accepted.max(0) + tolerance)


@settings(max_examples=60, deadline=None)
@given(chunk_events())
def test_velocity_is_continuous_across_joins(events):
    """Sampled every millisecond, the velocity never jumps: its change per sample stays what a
    bounded acceleration gives (a join that broke velocity continuity would jump by the two
    plans' velocity difference, up to 2 rad/s here)."""
    _, out, _, ex = play(events, step=0.001)
    velocity = np.diff(out, axis=0) / 0.001
    jumps = np.abs(np.diff(velocity, axis=0))
    assert np.all(jumps <= 2.0 * SPEC.limits.max_acceleration * 0.001 + 1e-3)


@settings(max_examples=60, deadline=None)
@given(chunk_events())
def test_the_stream_keeps_within_the_limits_so_the_safety_filter_passes_it_unchanged(events):
    times, out, _, _ = play(events)
    safety = SafetyFilter(SPEC)
    safety.initialize(HOME)
    states = [safety.filter(q, t).state for t, q in zip(times, out)]
    assert states.count(SafetyState.OK) == len(states)


@settings(max_examples=40, deadline=None)
@given(chunk_events())
def test_bad_chunks_are_refused_with_a_reason_and_the_playing_plan_is_kept(events):
    times, clean, _, _ = play(events)
    times_bad, with_bad, _, ex = play(events, with_bad=True)
    np.testing.assert_array_equal(times, times_bad)
    np.testing.assert_allclose(with_bad, clean, atol=0.0)
    assert ex.stats.rejected == 2 * len(events) and ex.stats.dropped >= len(events)
