"""SafetyFilter behaviour, one fault or limit per test (named after what it pins down)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from control_spec import HOME, make_spec

from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState

T = 0.02  # control period of the test spec, s


def started(spec, config=None, q0=HOME):
    f = SafetyFilter(spec, config or SafetyConfig())
    f.initialize(q0)
    f.filter(None, 0.0)
    return f


def run(f, command, t0, steps):
    """Feed `command` for `steps` periods starting after t0; returns (decisions, last time)."""
    out = []
    t = t0
    for _ in range(steps):
        t += T
        out.append(f.filter(command, t))
    return out, t


def test_when_not_initialised_expect_no_command(spec):
    f = SafetyFilter(spec)
    d = f.filter(HOME, 0.0)
    assert d.command is None and d.state is SafetyState.HOLD
    assert "initialize" in d.reasons[0]


def test_when_initialized_expect_output_equals_measured_joints(spec):
    f = SafetyFilter(spec)
    f.initialize(HOME + 0.1)
    d = f.filter(None, 5.0)
    np.testing.assert_array_equal(d.command, HOME + 0.1)
    assert d.state is SafetyState.HOLD


def test_when_initialized_with_nan_expect_readable_error(spec):
    with pytest.raises(ValueError, match="finite measured positions"):
        SafetyFilter(spec).initialize([0.0] * 6 + [math.nan])


def test_when_command_is_small_and_smooth_expect_passed_unchanged(spec):
    f = started(spec)
    target = HOME.copy()
    t = 0.0
    for k in range(50):
        target[0] = 0.2 * math.sin(k * T)  # 0.2 rad/s peak, well inside every limit
        t += T
        d = f.filter(target, t)
    np.testing.assert_allclose(d.command, target, atol=1e-12)
    assert d.state is SafetyState.OK and d.reasons == ()


def test_when_command_is_nan_expect_hold_last_safe(spec):
    f = started(spec)
    safe = HOME + 0.01
    run(f, safe, 0.0, 10)
    bad = safe.copy()
    bad[2] = math.nan
    d = f.filter(bad, 0.22)
    assert d.state is SafetyState.REJECTED
    assert "non-finite" in d.reasons[0] and "joint3" in d.reasons[0]
    np.testing.assert_allclose(d.command, safe, atol=1e-12)


def test_when_command_has_inf_expect_rejected_and_no_jump(spec):
    f = started(spec)
    bad = HOME.copy()
    bad[0] = math.inf
    d = f.filter(bad, T)
    assert d.state is SafetyState.REJECTED
    np.testing.assert_array_equal(d.command, HOME)


def test_when_command_has_wrong_size_expect_hold_last_safe(spec):
    f = started(spec)
    safe = HOME + 0.01
    run(f, safe, 0.0, 10)
    d = f.filter(np.zeros(6), 0.22)
    assert d.state is SafetyState.REJECTED and "6 values, expected 7" in d.reasons[0]
    np.testing.assert_allclose(d.command, safe, atol=1e-12)


def test_when_command_is_not_numeric_expect_rejected_not_raised(spec):
    f = started(spec)
    d = f.filter(["a"] * 7, T)
    assert d.state is SafetyState.REJECTED and "not a numeric array" in d.reasons[0]
    d = f.filter({"joint1": 1.0}, 2 * T)
    assert d.state is SafetyState.REJECTED


def test_when_caller_found_the_command_invalid_expect_rejected_with_its_reason(spec):
    f = started(spec)
    safe = HOME + 0.01
    run(f, safe, 0.0, 10)
    d = f.filter(None, 0.22, rejected_reason="joint names do not match")
    assert d.state is SafetyState.REJECTED and "joint names do not match" in d.reasons[0]
    np.testing.assert_allclose(d.command, safe, atol=1e-12)


def test_when_first_command_is_invalid_expect_no_motion(spec):
    f = started(spec)
    decisions, _ = run(f, np.full(7, math.nan), 0.0, 5)
    for d in decisions:
        np.testing.assert_array_equal(d.command, HOME)


def test_when_target_beyond_upper_limit_expect_clamped_inside_margin(spec):
    cfg = SafetyConfig(position_margin=0.05)
    f = started(spec, cfg)
    target = HOME.copy()
    target[1] = 100.0  # joint2 upper limit 1.7 rad
    decisions, _ = run(f, target, 0.0, 200)
    assert decisions[0].state is SafetyState.CLAMPED
    assert "joint2" in decisions[0].reasons[0]
    assert max(d.command[1] for d in decisions) <= 1.7 - 0.05 + 1e-12
    assert decisions[-1].command[1] == pytest.approx(1.65, abs=1e-9)


def test_when_gripper_target_at_its_limit_expect_gripper_margin_not_arm_margin(spec):
    f = started(spec, SafetyConfig(position_margin=0.05, gripper_margin=0.0))
    target = HOME.copy()
    target[6] = 1.0
    decisions, _ = run(f, target, 0.0, 100)
    assert decisions[-1].command[6] == pytest.approx(1.0)


def test_when_target_far_away_expect_velocity_limited(spec):
    f = started(spec)
    target = HOME.copy()
    target[0] = 2.0
    decisions, _ = run(f, target, 0.0, 150)
    steps = np.diff([d.command[0] for d in decisions])
    assert steps.max() <= 1.5 * T + 1e-12            # v_max 1.5 rad/s
    assert steps.max() == pytest.approx(1.5 * T)      # and it does cruise at the limit
    assert decisions[-1].command[0] == pytest.approx(2.0, abs=1e-9)


def test_when_target_steps_expect_acceleration_limited_without_overshoot(spec):
    f = started(spec)
    target = HOME.copy()
    target[0] = 0.5
    decisions, _ = run(f, target, 0.0, 100)
    v = np.array([d.velocity[0] for d in decisions])
    assert np.abs(np.diff(np.concatenate([[0.0], v]))).max() <= 6.0 * T + 1e-9  # a_max 6 rad/s^2
    positions = np.array([d.command[0] for d in decisions])
    assert positions.max() <= 0.5 + 1e-9                 # no overshoot
    assert np.all(np.diff(positions) >= -1e-12)          # monotone approach, no ringing
    assert positions[-1] == pytest.approx(0.5, abs=1e-9)
    assert decisions[-1].state is SafetyState.OK


def test_when_stream_moves_faster_than_output_can_start_expect_caught_up_not_trailed(spec):
    # A ramp that starts at 1 rad/s from rest: the output must lag at first (a_max), but then
    # catches up with the stream instead of trailing it at a constant distance.
    f = started(spec)
    decisions = []
    t = 0.0
    for k in range(1, 60):
        t += T
        target = HOME.copy()
        target[0] = 1.0 * k * T
        decisions.append((target[0], f.filter(target, t)))
    assert decisions[0][1].state is SafetyState.LIMITED
    lags = [tgt - d.command[0] for tgt, d in decisions]
    assert max(lags) > 0.05
    assert abs(lags[-1]) < 1e-9 and decisions[-1][1].state is SafetyState.OK


def test_when_position_close_to_limit_expect_deceleration_enforced(spec):
    # Fly towards joint1's upper limit at full speed with a target far beyond it.
    cfg = SafetyConfig(position_margin=0.0)
    q0 = HOME.copy()
    q0[0] = 1.5
    f = started(spec, cfg, q0)
    target = q0.copy()
    target[0] = 50.0
    decisions, _ = run(f, target, 0.0, 100)
    q = np.array([d.command[0] for d in decisions])
    v = np.array([d.velocity[0] for d in decisions])
    assert q.max() <= 2.8 + 1e-12
    assert np.abs(np.diff(v)).max() <= 6.0 * T + 1e-9
    assert v[-1] == pytest.approx(0.0, abs=1e-9) and q[-1] == pytest.approx(2.8, abs=1e-6)


def test_when_commands_stop_expect_watchdog_decelerates_to_hold(spec):
    cfg = SafetyConfig(watchdog_timeout=0.1)
    f = started(spec, cfg)
    target = HOME.copy()
    target[0] = 2.0
    _, t = run(f, target, 0.0, 40)  # cruising at 1.5 rad/s
    decisions, t = run(f, None, t, 60)
    states = [d.state for d in decisions]
    assert SafetyState.HOLD in states
    assert f.counts["watchdog_trips"] == 1
    speeds = np.abs([d.velocity[0] for d in decisions if d.state is SafetyState.HOLD])
    assert np.all(np.diff(speeds) <= 1e-12)                    # only slows down
    assert speeds[-1] == 0.0
    assert decisions[-1].command[0] == decisions[-2].command[0]  # and stays


def test_when_watchdog_fired_expect_old_target_never_resumed(spec):
    cfg = SafetyConfig(watchdog_timeout=0.1)
    f = started(spec, cfg)
    target = HOME.copy()
    target[0] = 1.0
    _, t = run(f, target, 0.0, 5)
    decisions, t = run(f, None, t, 100)  # long silence: stop and hold
    held = decisions[-1].command.copy()
    assert held[0] < 1.0
    decisions, t = run(f, None, t, 50)  # still silence: nothing moves, old target forgotten
    for d in decisions:
        np.testing.assert_array_equal(d.command, held)
    decisions, t = run(f, target, t, 100)  # a fresh command resumes
    assert decisions[-1].command[0] == pytest.approx(1.0)


def test_when_estop_expect_controlled_stop_then_no_motion(spec):
    f = started(spec)
    target = HOME.copy()
    target[0] = 2.0
    _, t = run(f, target, 0.0, 40)
    v0 = f.filter(target, t + T).velocity[0]
    t += T
    f.estop()
    decisions, t = run(f, target, t, 30)
    assert all(d.state is SafetyState.ESTOPPED for d in decisions)
    q = np.array([d.command[0] for d in decisions])
    stop_distance = v0 * v0 / (2 * 6.0) + v0 * T
    assert q[-1] - q[0] <= stop_distance
    still = np.flatnonzero(np.diff(q) == 0.0)
    assert still.size and np.all(np.diff(q)[still[0]:] == 0.0)  # once stopped, never moves again
    assert "e-stop latched" in decisions[0].reasons[0]


def test_when_reset_after_estop_expect_no_motion_until_fresh_command(spec):
    f = started(spec)
    f.estop()
    target = HOME + 0.3
    _, t = run(f, target, 0.0, 10)
    f.reset()
    assert not f.estopped
    decisions, t = run(f, None, t, 20)  # reset alone: nothing moves
    for d in decisions:
        np.testing.assert_array_equal(d.command, HOME)
        assert d.state is SafetyState.HOLD
    decisions, t = run(f, target, t, 100)  # a fresh command after the reset moves it
    np.testing.assert_allclose(decisions[-1].command, target, atol=1e-9)


def test_when_call_is_late_expect_step_no_larger_than_one_period(spec):
    f = started(spec)
    target = HOME.copy()
    target[0] = 2.0
    _, t = run(f, target, 0.0, 50)
    before = f.output[0]
    d = f.filter(target, t + 0.09)  # 0.09 s gap stays below the watchdog but skips 4 ticks
    assert d.command[0] - before <= 1.5 * T + 1e-12


def test_when_clock_repeats_or_runs_backwards_expect_no_motion(spec):
    f = started(spec)
    target = HOME + 0.2
    _, t = run(f, target, 0.0, 5)
    q = f.output
    np.testing.assert_array_equal(f.filter(target, t).command, q)
    np.testing.assert_array_equal(f.filter(target, t - 1.0).command, q)
    d = f.filter(target, math.nan)
    np.testing.assert_array_equal(d.command, q)
    assert any("clock" in r for r in d.reasons)


def test_when_initialized_outside_margin_band_expect_only_inward_motion(spec):
    q0 = HOME.copy()
    q0[0] = 2.79  # inside the hard limit, outside the 0.05 margin band
    f = started(spec, SafetyConfig(position_margin=0.05), q0)
    target = q0.copy()
    target[0] = 2.8
    decisions, _ = run(f, target, 0.0, 100)
    q = np.array([d.command[0] for d in decisions])
    assert q.max() <= 2.79 and np.all(np.diff(q) <= 1e-12)
    assert q[-1] == pytest.approx(2.75)


def test_when_jerk_limit_set_expect_acceleration_ramps_up(spec):
    # Jerk is best effort (the hard limits win at v_max and on the braking curve), so this
    # pins down the ramp-up from rest, where it always applies.
    spec = make_spec(jerk=True)
    f = started(spec, SafetyConfig(jerk_scale=1.0))
    target = HOME.copy()
    target[0] = 1.0
    decisions, _ = run(f, target, 0.0, 8)
    v = np.concatenate([[0.0], [d.velocity[0] for d in decisions]])
    acc = np.diff(v) / T
    np.testing.assert_allclose(acc[:3], [4.0, 6.0, 6.0])  # 200 rad/s^3 * 0.02 s, then a_max
    assert np.abs(np.diff(np.concatenate([[0.0], acc]))).max() <= 200.0 * T + 1e-6


def test_safety_config_from_yaml_mapping():
    cfg = SafetyConfig.from_dict(yaml.safe_load("position_margin: 0.03\nwatchdog_timeout: 0.2\njerk_scale: null\n"))
    assert cfg.position_margin == 0.03 and cfg.watchdog_timeout == 0.2 and cfg.jerk_scale is None
    assert SafetyConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "data, message",
    [
        ({"watchdog_timout": 0.2}, "unknown safety config keys"),
        ({"velocity_scale": 1.5}, "velocity_scale must be in"),
        ({"watchdog_timeout": 0.0}, "watchdog_timeout"),
        ({"position_margin": -0.1}, "position_margin"),
    ],
)
def test_safety_config_rejects_unsafe_or_misspelled_values(data, message):
    with pytest.raises(ValueError, match=message):
        SafetyConfig.from_dict(data)


def test_when_margin_swallows_a_joint_expect_readable_error(spec):
    with pytest.raises(ValueError, match="margins leave no room"):
        SafetyFilter(spec, SafetyConfig(position_margin=2.0))


def test_when_jerk_requested_without_spec_jerk_expect_error(spec):
    with pytest.raises(ValueError, match="no max_jerk"):
        SafetyFilter(spec, SafetyConfig(jerk_scale=0.5))
