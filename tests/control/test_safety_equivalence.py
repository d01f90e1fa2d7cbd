"""The fast SafetyFilter (plain floats) behaves exactly like the numpy one it replaced
(tests/control/safety_reference.py): same commands, velocities, states, reasons and counts on
random streams, with the workspace check off."""
from __future__ import annotations

import numpy as np
import pytest
from control_spec import HOME, make_spec
from hypothesis import given, settings
from hypothesis import strategies as st
from safety_reference import ReferenceSafetyFilter

from roboalign.control.safety import SafetyConfig, SafetyFilter

any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
commands = st.one_of(
    st.none(),
    st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),
    st.lists(st.one_of(st.floats(-1e6, 1e6), any_float), min_size=7, max_size=7),
    st.lists(st.floats(-3.0, 3.0), min_size=0, max_size=9),
    st.just("not a command"),
)
steps = st.lists(st.tuples(st.sampled_from(["cmd"] * 6 + ["estop", "reset"]), commands,
                           st.one_of(st.floats(0.0, 0.1), st.just(0.02), st.just(0.0), st.just(1e-10))),
                 min_size=1, max_size=60)


def assert_same(new, old) -> None:
    np.testing.assert_array_equal(new.command, old.command)
    np.testing.assert_array_equal(new.velocity, old.velocity)
    assert (new.state, new.reasons, new.deviation) == (old.state, old.reasons, old.deviation)


def run_both(config: SafetyConfig, jerk: bool, offset, stream) -> None:
    spec = make_spec(jerk=jerk)
    new, old = SafetyFilter(spec, config), ReferenceSafetyFilter(spec, config)
    q0 = np.clip(HOME + np.asarray(offset), new.lower, new.upper)
    new.initialize(q0)
    old.initialize(q0)
    t = 0.0
    assert_same(new.filter(None, t), old.filter(None, t))
    for kind, command, gap in stream:
        for f in (new, old):
            if kind == "estop":
                f.estop()
            elif kind == "reset":
                f.reset()
        t += gap
        assert_same(new.filter(command, t), old.filter(command, t))
    assert new.counts == old.counts
    np.testing.assert_array_equal(new.output, old.output)


@settings(max_examples=300, deadline=None)
@given(steps, st.booleans(), st.lists(st.floats(-0.4, 0.4), min_size=7, max_size=7))
def test_fast_filter_matches_the_numpy_filter_on_any_stream(stream, jerk, offset):
    config = SafetyConfig(position_margin=0.05, watchdog_timeout=0.1, jerk_scale=1.0 if jerk else None)
    run_both(config, jerk, offset, stream)


@pytest.mark.parametrize("jerk", [False, True])
def test_fast_filter_matches_the_numpy_filter_on_long_random_target_streams(jerk):
    """The benchmark's stream (random 7-joint targets at 50 Hz) and slow ramps, 3000 steps each."""
    rng = np.random.default_rng(7)
    spec = make_spec(jerk=jerk)
    targets = np.clip(HOME + rng.uniform(-1.0, 1.0, (3000, 7)), spec.limits.lower, spec.limits.upper)
    ramp = HOME + np.outer(np.sin(np.linspace(0, 20, 3000)), rng.uniform(-1, 1, 7))
    config = SafetyConfig(jerk_scale=0.5 if jerk else None, velocity_scale=0.8)
    for stream in (targets, ramp):
        run_both(config, jerk, np.zeros(7), [("cmd", c, 0.02) for c in stream])
