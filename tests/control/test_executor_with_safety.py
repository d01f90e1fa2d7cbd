"""The chunk executor and the safety filter together, as the control loop and the ROS graph run
them: what reaches the arm for a 1 rad step target, and what the filter still has to do."""
from __future__ import annotations

import numpy as np
import pytest
from control_spec import HOME, make_spec

from roboalign.control.executor import ChunkExecutor
from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState
from roboalign.core.action import ActionChunk

SPEC = make_spec(jerk=True)   # 200 rad/s^3 on every joint
PERIOD = SPEC.control_period  # 0.02 s


def run(chunks: list[tuple[float, ActionChunk]], seconds: float, interpolation: str = "cubic"):
    """Executor -> SafetyFilter (jerk limit on) at 50 Hz from HOME at rest; chunks arrive at
    their time. Returns the filter's outputs [n, 7] and its state per tick."""
    ex = ChunkExecutor(SPEC, interpolation=interpolation)
    ex.reset(HOME)
    safety = SafetyFilter(SPEC, SafetyConfig(jerk_scale=1.0))
    safety.initialize(HOME)
    pending = sorted(chunks, key=lambda c: c[0])
    out, states = [], []
    for k in range(int(round(seconds / PERIOD))):
        t = 10.0 + k * PERIOD
        while pending and pending[0][0] <= t + 1e-9:
            ex.submit(pending.pop(0)[1], now=t)
        decision = safety.filter(ex.command(t), t)
        out.append(decision.command)
        states.append(decision.state)
    return np.array(out), states


def rest_then_step(step_at: int) -> ActionChunk:
    """A 16-point chunk at HOME whose joint1 target jumps by 1 rad from point `step_at` on."""
    actions = np.repeat(HOME[None], 16, axis=0)
    actions[step_at:, 0] += 1.0
    return ActionChunk(actions=actions, start_time=10.0, dt=0.1, provenance="step")


def derivatives(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.diff(q, axis=0) / PERIOD
    a = np.diff(v, axis=0) / PERIOD
    return v, a, np.diff(a, axis=0) / PERIOD


@pytest.mark.parametrize("case", ["inside_a_chunk", "a_new_chunk_mid_motion"])
def test_a_one_rad_step_target_is_limited_in_velocity_acceleration_and_jerk(case):
    if case == "inside_a_chunk":
        chunks = [(10.0, rest_then_step(4))]
    else:  # a slow ramp plays, then a chunk 0.5 s later asks for joint1 + 1 rad at once
        ramp = np.repeat(HOME[None], 16, axis=0)
        ramp[:, 0] += 0.3 * 0.1 * np.arange(16)
        step = np.repeat((HOME + np.array([1.0, 0, 0, 0, 0, 0, 0]))[None], 16, axis=0)
        chunks = [(10.0, ActionChunk(ramp, 10.0, 0.1)), (10.5, ActionChunk(step, 10.5, 0.1))]
    out, states = run(chunks, seconds=4.0)
    v, a, j = derivatives(out[:, 0])
    lim = SPEC.limits
    assert np.max(np.abs(v)) <= lim.max_velocity[0] + 1e-9
    assert np.max(np.abs(a)) <= lim.max_acceleration[0] + 1e-6
    assert np.max(np.abs(j)) <= lim.max_jerk[0] + 1e-3
    assert out[-1, 0] == pytest.approx(HOME[0] + 1.0, abs=1e-6)          # and the step is reached
    np.testing.assert_allclose(out[:, 1:6], np.repeat(HOME[None, 1:6], len(out), axis=0), atol=0.0)  # others still
    # The executor already planned it within the limits: the filter passed every tick unchanged.
    assert states.count(SafetyState.OK) == len(states)


def test_with_linear_interpolation_the_same_step_is_left_to_the_safety_filter():
    out, states = run([(10.0, rest_then_step(4))], seconds=4.0, interpolation="linear")
    v, a, _ = derivatives(out[:, 0])
    assert np.max(np.abs(v)) <= SPEC.limits.max_velocity[0] + 1e-9
    assert np.max(np.abs(a)) <= SPEC.limits.max_acceleration[0] + 1e-6
    assert states.count(SafetyState.LIMITED) > 20   # here the filter does the smoothing
