"""ChunkExecutor: interpolation, merging of overlapping chunks, and bad chunks never raising.

Tests that pin the linear interpolation (the executor before real-time chunking) build it with
interpolation="linear"; tests/control/test_realtime_chunking.py pins the cubic default."""
from __future__ import annotations

import math

import numpy as np
import pytest
from control_spec import HOME, make_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.executor import ChunkExecutor
from roboalign.core.action import ActionChunk

SPEC = make_spec()


def ramp_chunk(start: float, q0: np.ndarray, slope: float = 0.5, h: int = 16, dt: float = 0.1) -> ActionChunk:
    """joint1 rises at `slope` rad/s from q0; the other joints stay."""
    actions = np.repeat(q0[None], h, axis=0)
    actions[:, 0] += slope * dt * np.arange(h)
    return ActionChunk(actions=actions, start_time=start, dt=dt, provenance="test")


def test_when_no_chunk_expect_no_command():
    ex = ChunkExecutor(SPEC)
    assert ex.command(1.0) is None and not ex.active


def test_when_between_points_expect_linear_interpolation():
    ex = ChunkExecutor(SPEC, interpolation="linear")
    assert ex.submit(ramp_chunk(10.0, HOME), now=10.0).accepted
    np.testing.assert_allclose(ex.command(10.0), HOME)
    np.testing.assert_allclose(ex.command(10.13)[0], 0.5 * 0.13)
    np.testing.assert_allclose(ex.command(10.13)[1:], HOME[1:])


def test_when_before_first_chunk_starts_expect_its_first_point():
    ex = ChunkExecutor(SPEC)
    ex.submit(ramp_chunk(10.0, HOME), now=9.5)
    # (cubic: the point as the plan keeps it, inside the position band: the gripper's 0 is 0.005)
    np.testing.assert_allclose(ex.command(9.6), np.clip(HOME, ex.lower, ex.upper))


def test_when_past_chunk_end_expect_hold_last_point_and_count_starved():
    ex = ChunkExecutor(SPEC)
    chunk = ramp_chunk(10.0, HOME)
    ex.submit(chunk, now=10.0)
    last = np.clip(chunk.actions[-1], ex.lower, ex.upper)
    np.testing.assert_allclose(ex.command(20.0), last)
    np.testing.assert_allclose(ex.command(21.0), last)
    assert ex.stats.starved == 2


def test_when_chunk_has_nan_expect_rejected_with_reason_not_raised():
    ex = ChunkExecutor(SPEC)
    actions = np.repeat(HOME[None], 16, axis=0)
    actions[3, 2] = math.nan
    result = ex.submit(ActionChunk(actions=actions, start_time=1.0, dt=0.1), now=1.0)
    assert not result.accepted and "NaN" in result.reason
    assert ex.stats.rejected == 1 and ex.command(1.0) is None


def test_when_chunk_has_wrong_dimension_expect_rejected():
    ex = ChunkExecutor(SPEC)
    result = ex.submit(ActionChunk(actions=np.zeros((16, 6)), start_time=1.0, dt=0.1), now=1.0)
    assert not result.accepted and "6 dimensions" in result.reason and "7" in result.reason


def test_when_not_a_chunk_expect_rejected():
    ex = ChunkExecutor(SPEC)
    result = ex.submit(np.zeros((16, 7)), now=1.0)  # type: ignore[arg-type]
    assert not result.accepted and "ActionChunk" in result.reason


def test_when_chunk_ended_before_now_expect_dropped():
    ex = ChunkExecutor(SPEC)
    result = ex.submit(ramp_chunk(1.0, HOME), now=5.0)
    assert not result.accepted and "ended" in result.reason and ex.stats.dropped == 1


def test_when_chunk_not_newer_than_playing_expect_dropped():
    ex = ChunkExecutor(SPEC)
    ex.submit(ramp_chunk(10.0, HOME), now=10.0)
    result = ex.submit(ramp_chunk(9.9, HOME + 1.0), now=10.05)
    assert not result.accepted and "not newer" in result.reason
    np.testing.assert_allclose(ex.command(10.1)[1], HOME[1])


def test_when_chunk_arrives_late_expect_counted_and_past_points_not_replayed():
    ex = ChunkExecutor(SPEC, interpolation="linear")
    ex.submit(ramp_chunk(10.0, HOME), now=10.35)  # 0.35 s after its start, tolerance 0.1 s
    assert ex.stats.late == 1
    np.testing.assert_allclose(ex.command(10.35)[0], 0.5 * 0.35)  # starts mid-chunk, not at its first point


def test_when_newer_chunk_arrives_expect_crossfade_without_step():
    ex = ChunkExecutor(SPEC, crossfade=0.1, interpolation="linear")
    ex.submit(ramp_chunk(10.0, HOME), now=10.0)
    t = 10.0
    commands = []
    for k in range(60):
        if k == 20:  # replan: a chunk offset by 0.2 rad on joint2, arriving 30 ms after its start
            result = ex.submit(ramp_chunk(t - 0.03, HOME + np.array([0, 0.2, 0, 0, 0, 0, 0])), now=t)
            assert result.accepted
        commands.append(ex.command(t))
        t += 0.02
    j2 = np.array([c[1] for c in commands])
    assert np.abs(np.diff(j2)).max() <= 0.2 * 0.02 / 0.1 + 1e-12  # spread over the 0.1 s fade
    assert j2[-1] == pytest.approx(HOME[1] + 0.2)                   # and the newer chunk wins
    assert ex.stats.merged == 1


def test_when_newer_chunk_starts_in_future_expect_old_plays_until_then():
    ex = ChunkExecutor(SPEC, crossfade=0.1, interpolation="linear")
    old = ramp_chunk(10.0, HOME)
    ex.submit(old, now=10.0)
    ex.submit(ramp_chunk(10.5, HOME + 1.0), now=10.1)
    np.testing.assert_allclose(ex.command(10.4), old.actions[0] + np.array([0.2, 0, 0, 0, 0, 0, 0]))
    np.testing.assert_allclose(ex.command(10.7)[1], HOME[1] + 1.0)


def test_when_chunks_arrive_faster_than_the_crossfade_expect_bounded_chain_and_finite_output():
    ex = ChunkExecutor(SPEC, crossfade=0.5, interpolation="linear")
    t = 0.0
    for k in range(200):
        ex.submit(ramp_chunk(t, HOME + 0.01 * (k % 3)), now=t)
        assert np.all(np.isfinite(ex.command(t)))
        t += 0.01
    depth, node = 0, ex._trajectory
    while hasattr(node, "old"):
        depth, node = depth + 1, node.old
    assert depth <= 51  # fades older than 0.5 s collapse


def test_reset_forgets_the_playing_chunk():
    ex = ChunkExecutor(SPEC)
    ex.submit(ramp_chunk(10.0, HOME), now=10.0)
    ex.reset()
    assert ex.command(10.1) is None
    assert ex.submit(ramp_chunk(9.0, HOME), now=9.0).accepted  # an older start is fine after reset


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="crossfade"):
        ChunkExecutor(SPEC, crossfade=-1.0)
    with pytest.raises(ValueError, match="interpolation must be one of cubic, linear"):
        ChunkExecutor(SPEC, interpolation="spline")
    with pytest.raises(ValueError, match="limit_scale"):
        ChunkExecutor(SPEC, limit_scale=0.0)
    with pytest.raises(ValueError, match="leave room"):
        ChunkExecutor(SPEC, gripper_margin=0.6)


finite = st.floats(-3.0, 3.0)
chunk_strategy = st.tuples(
    st.floats(0.0, 5.0),                        # start time
    st.integers(1, 20),                         # horizon
    st.integers(5, 8),                          # dimension (7 valid)
    st.sampled_from([0.02, 0.05, 0.1, 0.3]),    # dt
    st.booleans(),                              # poison with NaN
    st.floats(-3.0, 3.0),                       # level
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(chunk_strategy, st.floats(0.0, 0.3)), min_size=1, max_size=30))
def test_commands_stay_finite_and_inside_the_accepted_points(events):
    """Linear: whatever chunks arrive, command() never raises, stays finite, and stays inside
    the per-joint range of the points it accepted (linear interpolation and blending are convex)."""
    ex = ChunkExecutor(SPEC, crossfade=0.1, interpolation="linear")
    low = np.full(7, np.inf)
    high = np.full(7, -np.inf)
    now = 0.0
    for (start, h, d, dt, poison, level), gap in events:
        actions = np.full((h, d), level) + 0.1 * np.sin(np.arange(h * d).reshape(h, d))
        if poison:
            actions[h // 2, 0] = math.nan
        result = ex.submit(ActionChunk(actions=actions, start_time=start, dt=dt), now=now)
        if result.accepted:
            low, high = np.minimum(low, actions.min(0)), np.maximum(high, actions.max(0))
        else:
            assert result.reason
        now += gap
        out = ex.command(now)
        if out is None:
            assert not np.isfinite(low).all()
            continue
        assert out.shape == (7,) and np.all(np.isfinite(out))
        assert np.all(out >= low - 1e-9) and np.all(out <= high + 1e-9)
