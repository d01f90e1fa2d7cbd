"""ControlLoop with the real MuJoCo arm: the expert succeeds through executor + safety filter,
a failing policy (NaN chunk, exception, stale camera) makes the arm hold, defaults = ROS graph."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from roboalign.control.loop import ControlLoop, LoopConfig
from roboalign.control.safety import SafetyConfig, SafetyState
from roboalign.core.action import ActionChunk
from roboalign.core.camera import Camera, Frame
from roboalign.sim.arm import SimArm
from roboalign.sim.episodes import SAFETY_KEYS, run_sim_episode
from roboalign.sim.expert import ScriptedExpert


@pytest.fixture(scope="module")
def arm():
    a = SimArm(cameras=())
    yield a
    a.close()


class NanPolicy:
    """Answers every observation with a chunk full of NaN."""

    def __init__(self) -> None:
        self.calls = 0

    def infer(self, obs):
        self.calls += 1
        return ActionChunk(np.full((16, 7), np.nan), start_time=obs.timestamp, dt=0.1)

    def metadata(self):
        return {"policy": "nan"}

    def reset(self):
        pass


class RaisingPolicy(NanPolicy):
    """Works like the expert for `good_calls` calls, then raises (a crashed model)."""

    def __init__(self, good_calls: int = 0) -> None:
        super().__init__()
        self.good_calls = good_calls
        self.expert = ScriptedExpert()

    def infer(self, obs):
        self.calls += 1
        if self.calls > self.good_calls:
            raise RuntimeError("CUDA error: device-side assert triggered")
        return self.expert.infer(obs)


def _record(ticks):
    return lambda tick: ticks.append(tick)


def test_expert_episode_succeeds_through_executor_and_safety_filter(arm):
    r = run_sim_episode(arm, ScriptedExpert(), seed=100, max_seconds=8.0)
    assert r.success and 1.0 < r.duration < 8.0
    loop = r.loop
    assert set(SAFETY_KEYS) <= set(loop.safety) and {s.value for s in SafetyState} <= set(loop.safety)
    assert sum(loop.safety[s.value] for s in SafetyState) == loop.steps  # one filter state per tick
    assert loop.safety["rejected"] == loop.safety["estopped"] == loop.safety["watchdog_trips"] == 0
    assert loop.policy_calls >= 3 and loop.executor["accepted"] == loop.policy_calls
    assert loop.executor["merged"] == loop.policy_calls - 1  # every replan cross-faded in
    assert 0.0 <= loop.max_correction_rad < 0.2 and loop.policy_errors == 0
    summary = r.summary()
    assert summary["safety"] == loop.safety and summary["success"] is True


def test_every_command_the_arm_receives_is_the_safety_filter_output(arm):
    ticks = []
    arm.reset(101)
    loop = ControlLoop(arm, ScriptedExpert(), privileged=arm.privileged_state, recorder=_record(ticks))
    result = loop.run(arm.instruction, max_seconds=1.0)
    assert len(ticks) == result.steps == 50 and result.success is None
    assert [t.index for t in ticks] == list(range(50))
    np.testing.assert_allclose(np.diff([t.time for t in ticks]), 0.02, atol=1e-9)
    assert sum(t.observation is not None for t in ticks) == result.policy_calls == 3  # t = 0, 0.4, 0.8 s
    limits = arm.spec.limits
    commands = np.array([t.command for t in ticks])
    steps = np.abs(np.diff(commands, axis=0)) / 0.02
    assert np.all(steps <= limits.max_velocity + 1e-9)  # the filter's velocity limit held on every tick
    # The arm's actuator targets are the last safe command (the gripper maps onto two fingers).
    np.testing.assert_allclose(arm.data.ctrl[:6], ticks[-1].command[:6])


def test_a_nan_chunk_makes_a_safe_hold_and_never_motion(arm):
    ticks = []
    arm.reset(102)
    start = arm.joint_positions()
    policy = NanPolicy()
    result = ControlLoop(arm, policy, recorder=_record(ticks)).run(arm.instruction, max_seconds=1.0)
    assert policy.calls == result.policy_calls == 3
    assert result.executor["rejected"] == 3 and result.executor["accepted"] == 0
    assert result.safety["hold"] == result.steps == 50
    assert all(t.requested is None and t.safety is SafetyState.HOLD for t in ticks)
    for t in ticks:  # every command sent is the measured start pose: no motion was ever asked
        np.testing.assert_allclose(t.command, start, atol=1e-12)
    np.testing.assert_allclose(arm.joint_positions(), start, atol=2e-3)


def test_a_policy_that_raises_makes_the_arm_hold(arm):
    arm.reset(103)
    start = arm.joint_positions()
    result = ControlLoop(arm, RaisingPolicy()).run(arm.instruction, max_seconds=1.0)
    assert result.policy_errors == result.policy_calls == 3
    assert "CUDA error" in result.first_error
    assert result.safety["hold"] == result.steps and result.executor["accepted"] == 0
    np.testing.assert_allclose(arm.joint_positions(), start, atol=2e-3)


def test_a_policy_that_dies_mid_episode_lets_the_arm_finish_its_chunk_then_stop(arm):
    arm.reset(104)
    ticks = []
    result = ControlLoop(arm, RaisingPolicy(good_calls=1), privileged=arm.privileged_state,
                         recorder=_record(ticks)).run(arm.instruction, max_seconds=3.0)
    assert result.policy_calls == 8 and result.policy_errors == 7
    assert result.executor["starved"] > 0  # played past the end of its only chunk: held its last point
    assert np.max(np.abs(ticks[10].command - ticks[0].command)) > 0.01  # it did move on the good chunk
    assert np.all(np.abs(arm.joint_velocities()[:6]) < 0.05)  # and has come to rest
    assert result.safety["rejected"] == 0


class FrozenCamera(Camera):
    """A camera whose driver stopped updating: its newest frame stays at t = -1 s."""

    name = "front"
    is_connected = True

    def connect(self):
        pass

    def disconnect(self):
        pass

    def read(self, timeout_s=1.0):
        return self.read_latest(float("inf"))

    def read_latest(self, max_age_s):
        return Frame(np.zeros((8, 8, 3), np.uint8), -1.0, 1)


def test_a_stale_camera_is_refused_by_name_and_the_policy_is_never_called():
    with SimArm(render_size=(8, 8), cameras=("front",)) as a:
        a.reset(105)
        a.cameras["front"] = FrozenCamera()  # after reset: reset() refreshes its own SimCameras
        policy = NanPolicy()
        result = ControlLoop(a, policy).run(a.instruction, max_seconds=1.0)
    assert policy.calls == result.policy_calls == 0
    assert result.refusals == {"stale front": 3}
    assert result.safety["hold"] == result.steps


def test_a_policy_for_another_robot_is_refused_before_anything_moves(arm):
    class OtherArmPolicy(NanPolicy):
        def metadata(self):
            spec = arm.spec.to_dict()
            spec["joint_names"] = [f"j{i}" for i in range(7)]
            return {"policy": "other", "robot": spec}

    with pytest.raises(ValueError, match="policy drives joints"):
        ControlLoop(arm, OtherArmPolicy())
    with pytest.raises(ValueError, match="no camera wrist"):
        ControlLoop(arm, NanPolicy(), cameras=("wrist",))


def test_loop_defaults_are_the_ros_graph_parameters():
    from roboalign_ros.graph import load_graph

    graph = load_graph()
    policy, executor, safety = (graph.node(n).parameters for n in ("policy", "executor", "safety"))
    cfg = LoopConfig()
    assert cfg.replan_period == policy["replan_period"]
    assert cfg.max_observation_age == policy["max_observation_age"]
    assert cfg.max_observation_skew == policy["max_observation_skew"]
    assert cfg.control_rate_hz == executor["control_rate_hz"] == safety["control_rate_hz"]
    assert cfg.crossfade == executor["crossfade"] and cfg.late_tolerance == executor["late_tolerance"]
    for name in ("interpolation", "limit_scale", "position_margin", "gripper_margin"):
        assert getattr(cfg, name) == executor[name], name
    graph_safety = {f.name: safety[f.name] for f in dataclasses.fields(SafetyConfig)
                    if f.name in safety and f.name != "jerk_scale"}
    assert {k: getattr(cfg.safety, k) for k in graph_safety} == graph_safety
    assert set(graph_safety) == {f.name for f in dataclasses.fields(SafetyConfig)} - {"jerk_scale", "control_period"}
    assert cfg.safety.jerk_scale is None and safety["jerk_scale"] == 0.0  # the node reads 0 as "no jerk limit"


def test_loop_config_refuses_nonsense():
    with pytest.raises(ValueError, match="replan_period"):
        LoopConfig(replan_period=0.0)
    with pytest.raises(ValueError, match="max_seconds"):
        ControlLoop(SimArm(cameras=()), NanPolicy()).run("go", max_seconds=float("nan"))
