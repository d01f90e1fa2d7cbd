"""Property tests: whatever arrives (NaN, inf, wrong sizes, huge values, random timing, e-stops
and resets in any order), the SafetyFilter's output stays finite, inside the position band,
and within the velocity and acceleration limits of its previous output; e-stop and hold only
ever slow the arm down and end in no motion."""
from __future__ import annotations

import math

import numpy as np
from control_spec import HOME, make_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState

SPEC = make_spec()
CONFIG = SafetyConfig(position_margin=0.05, watchdog_timeout=0.1)
EPS = 1e-9

any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
huge_or_normal = st.one_of(st.floats(-1e6, 1e6), any_float, st.floats(-3.0, 3.0))
commands = st.one_of(
    st.none(),
    st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),       # plausible targets
    st.lists(huge_or_normal, min_size=7, max_size=7),             # NaN/inf/huge
    st.lists(st.floats(-3.0, 3.0), min_size=0, max_size=12),      # wrong sizes
    st.just("not a command"),
)
step = st.tuples(
    st.sampled_from(["cmd", "cmd", "cmd", "cmd", "estop", "reset"]),
    commands,
    st.one_of(st.floats(0.0, 0.2), st.just(0.02), st.just(0.0)),  # seconds since the last call
)


def limits(f: SafetyFilter):
    return f.lower, f.upper, f.max_velocity, f.max_acceleration


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=80), st.lists(st.floats(-0.4, 0.4), min_size=7, max_size=7))
def test_output_always_finite_inside_limits_and_rate_bounded(steps, offset):
    f = SafetyFilter(SPEC, CONFIG)
    q0 = np.clip(HOME + np.asarray(offset), f.lower, f.upper)
    f.initialize(q0)
    lower, upper, vmax, amax = limits(f)
    t = 0.0
    prev = f.filter(None, t)
    prev_q, prev_v = prev.command, prev.velocity
    for kind, command, gap in steps:
        if kind == "estop":
            f.estop()
        elif kind == "reset":
            f.reset()
        t += gap
        d = f.filter(command, t)
        dt = min(gap, f.period)
        q, v = d.command, d.velocity
        assert q.shape == (7,) and np.all(np.isfinite(q)) and np.all(np.isfinite(v))
        assert np.all(q >= lower - EPS) and np.all(q <= upper + EPS)
        assert np.all(np.abs(v) <= vmax + EPS)
        assert np.all(np.abs(q - prev_q) <= vmax * dt + EPS)
        np.testing.assert_allclose(q - prev_q, v * dt, atol=1e-9)  # reported velocity is real
        assert np.all(np.abs(v - prev_v) <= amax * dt * (1 + 1e-9) + EPS)
        if d.state in (SafetyState.ESTOPPED, SafetyState.HOLD):
            # stopping only: never faster than before, never reversing
            assert np.all(np.abs(v) <= np.abs(prev_v) + EPS)
            assert np.all(v * prev_v >= -EPS)
        prev_q, prev_v = q, v


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),
    st.integers(0, 60),
    st.lists(commands, min_size=1, max_size=60),
)
def test_estop_ends_in_no_motion_whatever_arrives(target, moving_steps, later):
    f = SafetyFilter(SPEC, CONFIG)
    f.initialize(HOME)
    t = 0.0
    for _ in range(moving_steps):
        t += 0.02
        f.filter(target, t)
    f.estop()
    # v_max / (a_max * dt) steps are enough to stop from any speed; then nothing moves.
    stop_steps = int(math.ceil(np.max(f.max_velocity / (f.max_acceleration * f.period)))) + 1
    for _ in range(stop_steps):
        t += 0.02
        f.filter(target, t)
    stopped = f.output
    for command in later:
        t += 0.02
        d = f.filter(command, t)
        assert d.state is SafetyState.ESTOPPED
        np.testing.assert_array_equal(d.command, stopped)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0.0, 0.05)), min_size=1, max_size=40))
def test_reset_alone_never_moves_the_arm(gaps):
    """After estop + reset, calls without a command (any timing) keep the output still."""
    f = SafetyFilter(SPEC, CONFIG)
    f.initialize(HOME)
    f.filter(None, 0.0)
    f.estop()
    f.filter(HOME + 0.5, 0.02)
    f.reset()
    t = 0.02
    for gap in gaps:
        t += 0.02 if gap is None else gap
        d = f.filter(None, t)
        np.testing.assert_array_equal(d.command, HOME)
        assert d.state is SafetyState.HOLD


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3), min_size=6, max_size=6), st.floats(0.0, 0.9))
def test_reachable_smooth_stream_passes_unchanged(arm_direction, gripper_goal):
    """A stream well inside every limit is passed through exactly (the filter is transparent).

    Not up to the limit itself: near a limit the filter starts braking about v*dt early (its
    room-to-brake rule is conservative so that it holds under any call timing)."""
    f = SafetyFilter(SPEC, CONFIG)
    f.initialize(HOME)
    f.filter(None, 0.0)
    t = 0.0
    for k in range(1, 60):
        t += 0.02
        s = 0.5 * (1 - math.cos(math.pi * min(k * 0.02, 1.0)))  # smooth 0 -> 1 in 1 s
        target = HOME + np.asarray(arm_direction + [gripper_goal]) * s
        d = f.filter(target, t)
        np.testing.assert_allclose(d.command, target, atol=1e-9)
