"""The SafetyFilter's Cartesian workspace: a box and a table plane on the tool point, through
forward kinematics (the sim arm's MuJoCo FK; the FR3's pinocchio FK where installed).

Whatever the command stream, the output's tool point never leaves the box nor goes below the
table, and the joint limits still hold."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.config import from_mapping
from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState
from roboalign.core.robot import RobotSpec
from roboalign.robots import kinematics_for
from roboalign.sim.arm import sim_robot_spec

SPEC = sim_robot_spec()
KIN = kinematics_for(SPEC)
Q0 = np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0, 0.0])  # tool at (0.375, 0, 0.294) m
BOX_MIN, BOX_MAX = [0.25, -0.15, 0.20], [0.50, 0.15, 0.45]
TABLE = 0.24
CONFIG = SafetyConfig(workspace_min=BOX_MIN, workspace_max=BOX_MAX, table_height=TABLE, watchdog_timeout=0.1)
T = 0.02
EPS = 1e-9  # m / rad: rounding


def tool(q) -> np.ndarray:
    return np.array(KIN.tool_position(np.asarray(q)[:6]))


def inside(q) -> bool:
    p = tool(q)
    return bool(np.all(p >= np.array(BOX_MIN) - EPS) and np.all(p <= np.array(BOX_MAX) + EPS) and p[2] >= TABLE - EPS)


def started(config=CONFIG, q0=Q0, spec=SPEC, kinematics=KIN) -> SafetyFilter:
    f = SafetyFilter(spec, config, kinematics)
    f.initialize(q0)
    f.filter(None, 0.0)
    return f


def test_targets_outside_the_workspace_box_are_clamped_and_never_exceeded():
    f = started()
    target = Q0.copy()
    target[1] += 0.8  # leans the arm forward and down: tool far outside the box and below the table
    assert not inside(target)
    t, states = 0.0, []
    for _ in range(150):
        t += T
        d = f.filter(target, t)
        states.append(d.state)
        assert inside(d.command), f"tool at {tool(d.command)} left the workspace"
        assert np.all(d.command >= f.lower - EPS) and np.all(d.command <= f.upper + EPS)
    assert SafetyState.WORKSPACE in states and f.counts["workspace"] > 0
    assert any("workspace" in r for r in d.reasons)
    p = tool(d.command)
    assert p[2] == pytest.approx(TABLE, abs=2e-3)  # it came to rest on the table plane, not short of it
    np.testing.assert_allclose(d.velocity, 0.0, atol=1e-6)


def test_a_target_inside_the_workspace_passes_unchanged():
    f = started()
    target = Q0 + np.array([0.05, 0.05, -0.05, 0.0, 0.0, 0.0, 0.5])
    assert inside(target)
    t = 0.0
    for k in range(1, 80):
        t += T
        s = 0.5 * (1 - math.cos(math.pi * min(k * T, 1.0)))
        d = f.filter(Q0 + (target - Q0) * s, t)
    np.testing.assert_allclose(d.command, target, atol=1e-9)
    assert f.counts["workspace"] == 0 and d.state is SafetyState.OK


def test_a_joint_path_that_bulges_out_of_the_box_stops_at_its_wall():
    """Both ends inside, the way between outside: turning the base sweeps the tool along an arc
    whose middle passes x = 0.375 m, beyond the box's x_max = 0.37 m. The target itself is
    fine, so only the per-step guard can stop the arm: it halts at the wall and stays there."""
    box_max = [0.37, 0.15, 0.45]
    f_config = SafetyConfig(workspace_min=BOX_MIN, workspace_max=box_max)
    start, end = Q0.copy(), Q0.copy()
    start[0], end[0] = -0.25, 0.25
    assert tool(start)[0] < 0.37 and tool(end)[0] < 0.37 and tool(Q0)[0] > 0.37
    f = started(f_config, start)
    t, walled = 0.0, 0
    for _ in range(100):
        t += T
        d = f.filter(end, t)
        walled += d.state is SafetyState.WORKSPACE
        assert tool(d.command)[0] <= 0.37 + EPS
    assert walled > 0 and any("output step stopped at the boundary" in r for r in d.reasons)
    assert d.command[0] == pytest.approx(-math.acos(0.37 / tool(Q0)[0]), abs=0.01)  # at the wall
    np.testing.assert_allclose(d.velocity, 0.0, atol=1e-9)


def test_an_arm_started_outside_the_workspace_moves_no_further_out():
    q_out = Q0.copy()
    q_out[1] += 0.5
    f = started(q0=q_out)
    start = tool(q_out)
    assert start[2] < TABLE
    t = 0.0
    for _ in range(50):  # pushing further down is refused
        t += T
        d = f.filter(q_out + np.array([0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0]), t)
        assert tool(d.command)[2] >= start[2] - EPS
    for _ in range(200):  # back in is allowed
        t += T
        d = f.filter(Q0, t)
    np.testing.assert_allclose(d.command, Q0, atol=1e-6)


def test_the_direct_loop_keeps_the_sim_arms_tool_above_the_table_plane():
    """The scripted expert pushes blocks with its fingertip centre ~2 cm above the table top;
    with the table plane at 3 cm the loop (Robot.kinematics() -> SafetyFilter) cuts those
    commands back and every command sent keeps the tool point above it."""
    from roboalign.control.loop import LoopConfig
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    arm = SimArm(cameras=())
    heights: list[float] = []
    config = LoopConfig(safety=SafetyConfig(table_height=0.03))
    result = run_sim_episode(arm, ScriptedExpert(), 0, task="push", max_seconds=6.0, config=config,
                             stop_on_success=False, on_tick=lambda tick: heights.append(tool(tick.command)[2]))
    assert min(heights) >= 0.03 - EPS
    assert result.loop.safety["workspace"] > 0


def test_the_workspace_needs_forward_kinematics():
    with pytest.raises(ValueError, match="no kinematics was given"):
        SafetyFilter(SPEC, CONFIG)
    SafetyFilter(SPEC, SafetyConfig())  # infinite bounds: no workspace, no kinematics needed


@pytest.mark.parametrize("data, message", [
    ({"workspace_min": [0.5, 0, 0], "workspace_max": [0.4, 1, 1]}, "must be below workspace_max"),
    ({"workspace_min": [0.0, 0.0]}, "3 numbers"),
    ({"table_height": float("nan")}, "table_height"),
    ({"table_height": float("inf")}, "table_height"),
])
def test_workspace_configs_that_make_no_sense_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        SafetyConfig.from_dict(data)


def test_workspace_config_loads_through_roboalign_config_and_null_means_unbounded():
    cfg = from_mapping(SafetyConfig, {"workspace_min": [0.2, -0.3, 0.0], "workspace_max": [0.7, 0.3, 0.6],
                                      "table_height": 0.02}, source="graph.yaml")
    assert cfg.has_workspace and cfg.workspace_min == [0.2, -0.3, 0.0] and cfg.table_height == 0.02
    assert SafetyConfig.from_dict(cfg.to_dict()) == cfg
    off = SafetyConfig.from_dict({"workspace_min": None, "table_height": None})
    assert not off.has_workspace and off == SafetyConfig()
    only_table = SafetyConfig(table_height=0.0)
    assert only_table.has_workspace and not only_table.has_box


any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
commands = st.one_of(
    st.none(),
    st.lists(st.floats(-3.0, 3.0), min_size=7, max_size=7),     # anywhere in (and beyond) joint space
    st.lists(st.floats(-0.6, 0.6), min_size=7, max_size=7).map(lambda d: (Q0 + np.array(d)).tolist()),
    st.lists(st.one_of(st.floats(-1e6, 1e6), any_float), min_size=7, max_size=7),
    st.lists(st.floats(-3.0, 3.0), min_size=0, max_size=9),
)
steps = st.lists(st.tuples(st.sampled_from(["cmd"] * 6 + ["estop", "reset"]), commands,
                           st.one_of(st.floats(0.0, 0.1), st.just(T))), min_size=1, max_size=50)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_no_command_stream_takes_the_tool_out_of_the_workspace(stream):
    f = started()
    prev_q = f.output
    t = 0.0
    for kind, command, gap in stream:
        if kind == "estop":
            f.estop()
        elif kind == "reset":
            f.reset()
        t += gap
        d = f.filter(command, t)
        q = d.command
        assert np.all(np.isfinite(q)) and inside(q), f"tool at {tool(q)}"
        assert np.all(q >= f.lower - EPS) and np.all(q <= f.upper + EPS)
        assert np.all(np.abs(d.velocity) <= f.max_velocity + EPS)
        assert np.all(np.abs(q - prev_q) <= f.max_velocity * min(gap, f.period) + EPS)
        prev_q = q


@pytest.mark.skipif(importlib.util.find_spec("pinocchio") is None, reason="needs the kinematics extra (pin)")
def test_fr3_targets_below_the_table_are_clamped_through_pinocchio_fk():
    fr3 = RobotSpec.load(Path(__file__).resolve().parents[2] / "configs" / "robots" / "fr3.yaml")
    kin = kinematics_for(fr3, (0.0, 0.0, 0.1034))  # Franka Hand fingertips
    ready = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])  # franka's "ready" pose
    z0 = kin.tool_position(ready)[2]
    f = started(SafetyConfig(table_height=z0 - 0.05, workspace_min=[0.2, -0.4, -1.0],
                             workspace_max=[0.7, 0.4, 1.0]), ready, fr3, kin)
    target = ready + np.array([0.0, 0.6, 0.0, 0.4, 0.0, -0.2, 0.0])  # reaches down, far below the table
    assert kin.tool_position(target)[2] < z0 - 0.05
    t = 0.0
    for _ in range(300):
        t += 0.01
        d = f.filter(target, t)
        assert kin.tool_position(d.command)[2] >= z0 - 0.05 - EPS
    assert d.state is SafetyState.WORKSPACE
    assert kin.tool_position(d.command)[2] == pytest.approx(z0 - 0.05, abs=2e-3)
