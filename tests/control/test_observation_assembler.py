"""ObservationAssembler: joint order by name, per-stream age, skew between streams, refusals
that name the stream at fault (pure Python, property and fault tests)."""
from __future__ import annotations

import numpy as np
import pytest
from control_spec import make_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.observation import FreezeWatch, ObservationAssembler, Privileged, Refusal, RefusalReason
from roboalign.core.camera import Frame
from roboalign.core.observation import Observation
from roboalign.core.robot import JointState

SPEC = make_spec()
NAMES = SPEC.joint_names
IMAGE = np.zeros((4, 6, 3), np.uint8)
NOW = 100.0


def joints(t: float = NOW, names=NAMES, positions=None, velocities=None) -> JointState:
    positions = np.arange(len(names), dtype=float) if positions is None else positions
    return JointState(tuple(names), positions, t, velocities)


def frame(t: float = NOW, seq: int = 1) -> Frame:
    return Frame(IMAGE, t, seq)


def assembler(**kw) -> ObservationAssembler:
    kw.setdefault("cameras", ("front", "wrist"))
    return ObservationAssembler(SPEC, **kw)


def test_fresh_inputs_make_an_observation_with_every_capture_time():
    obs = assembler().assemble(NOW, joints(NOW - 0.01), {"front": frame(NOW - 0.05), "wrist": frame(NOW - 0.02)},
                               "touch the red block")
    assert isinstance(obs, Observation)
    assert obs.timestamp == NOW and obs.instruction == "touch the red block"
    assert obs.capture_times == {"joints": NOW - 0.01, "front": NOW - 0.05, "wrist": NOW - 0.02}
    assert set(obs.images) == {"front", "wrist"} and obs.privileged == {}


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(len(NAMES)))), st.booleans())
def test_joints_in_any_order_come_out_in_the_spec_order(perm, with_velocity):
    positions = np.array([10.0 * i for i in perm])  # value encodes the spec index of its name
    names = [NAMES[i] for i in perm]
    velocities = -positions if with_velocity else None
    obs = assembler(cameras=()).assemble(NOW, joints(names=names, positions=positions, velocities=velocities), {}, "go")
    np.testing.assert_array_equal(obs.joint_positions, 10.0 * np.arange(len(NAMES)))
    if with_velocity:
        np.testing.assert_array_equal(obs.joint_velocities, -10.0 * np.arange(len(NAMES)))
    else:
        assert obs.joint_velocities is None


def test_extra_joints_are_ignored_and_a_missing_one_is_named():
    names = ("finger_extra",) + NAMES
    obs = assembler(cameras=()).assemble(NOW, joints(names=names, positions=np.arange(8.0)), {}, "go")
    np.testing.assert_array_equal(obs.joint_positions, np.arange(1.0, 8.0))
    r = assembler(cameras=()).assemble(NOW, joints(names=NAMES[:-1], positions=np.zeros(6)), {}, "go")
    assert isinstance(r, Refusal) and r.reason is RefusalReason.INVALID and r.stream == "joints"
    assert "gripper" in r.detail


@settings(max_examples=200, deadline=None)
@given(ages=st.fixed_dictionaries({s: st.floats(-0.05, 1.5) for s in ("joints", "front", "wrist")}),
       max_age=st.floats(0.05, 1.0), max_skew=st.floats(0.05, 1.0))
def test_an_observation_exactly_when_every_age_and_the_skew_are_within_limits(ages, max_age, max_skew):
    a = assembler(max_age_s=max_age, max_skew_s=max_skew)
    t = {s: NOW - age for s, age in ages.items()}
    r = a.assemble(NOW, joints(t["joints"]), {"front": frame(t["front"]), "wrist": frame(t["wrist"])}, "go")
    oldest = min(t, key=t.get)
    stale = NOW - t[oldest] > max_age
    skewed = max(t.values()) - t[oldest] > max_skew
    if not stale and not skewed:
        assert isinstance(r, Observation) and r.capture_times == t
    else:
        assert isinstance(r, Refusal) and t[r.stream] == t[oldest]  # an oldest stream (ties: any)
        assert r.reason is (RefusalReason.STALE if stale else RefusalReason.SKEWED)


def test_stale_refusal_names_the_stale_camera():
    r = assembler(max_age_s=0.5).assemble(NOW, joints(), {"front": frame(), "wrist": frame(NOW - 0.7)}, "go")
    assert isinstance(r, Refusal) and (r.reason, r.stream) == (RefusalReason.STALE, "wrist")
    assert str(r).startswith("stale wrist: captured 0.700 s ago")


def test_skew_refusal_names_the_lagging_stream_and_the_one_it_lags():
    # Both within the age limit, but 0.3 s apart: a picture of another moment than the joints.
    r = assembler(max_age_s=0.5, max_skew_s=0.2).assemble(NOW, joints(NOW), {"front": frame(NOW - 0.3),
                                                                            "wrist": frame(NOW)}, "go")
    assert isinstance(r, Refusal) and (r.reason, r.stream) == (RefusalReason.SKEWED, "front")
    assert "before joints" in r.detail


@pytest.mark.parametrize("case, stream", [
    ("no joints", "joints"), ("no front frame", "front"), ("no instruction", "instruction"),
    ("no privileged", "privileged"),
])
def test_missing_streams_are_refused_by_name(case, stream):
    a = assembler(privileged=True)
    inputs = {"joints": joints(), "frames": {"front": frame(), "wrist": frame()}, "instruction": "go",
              "privileged": Privileged({"target_position": np.zeros(3)}, NOW)}
    if case == "no joints":
        inputs["joints"] = None
    elif case == "no front frame":
        inputs["frames"] = {"wrist": frame()}
    elif case == "no instruction":
        inputs["instruction"] = ""
    else:
        inputs["privileged"] = None
    r = a.assemble(NOW, inputs["joints"], inputs["frames"], inputs["instruction"], inputs["privileged"])
    assert isinstance(r, Refusal) and (r.reason, r.stream) == (RefusalReason.MISSING, stream)


def test_non_finite_joint_positions_are_refused_and_named():
    bad = np.zeros(7)
    bad[2] = np.nan
    r = assembler(cameras=()).assemble(NOW, joints(positions=bad), {}, "go")
    assert isinstance(r, Refusal) and (r.reason, r.stream) == (RefusalReason.INVALID, "joints")
    assert "joint3" in r.detail


def test_privileged_state_reaches_only_an_assembler_built_for_it():
    priv = Privileged({"target_position": np.ones(3)}, NOW - 0.1)
    learned = assembler(cameras=()).assemble(NOW, joints(), {}, "go", priv)
    assert learned.privileged == {} and "privileged" not in learned.capture_times
    expert = assembler(cameras=(), privileged=True).assemble(NOW, joints(), {}, "go", priv)
    np.testing.assert_array_equal(expert.privileged["target_position"], np.ones(3))
    assert expert.capture_times["privileged"] == NOW - 0.1


def test_stale_privileged_state_is_refused_like_any_stream():
    priv = Privileged({"target_position": np.ones(3)}, NOW - 2.0)
    r = assembler(cameras=(), privileged=True).assemble(NOW, joints(), {}, "go", priv)
    assert isinstance(r, Refusal) and (r.reason, r.stream) == (RefusalReason.STALE, "privileged")


def test_construction_refuses_nonsense_limits_and_names():
    with pytest.raises(ValueError, match="max_age_s"):
        ObservationAssembler(SPEC, max_age_s=0.0)
    with pytest.raises(ValueError, match="max_skew_s"):
        ObservationAssembler(SPEC, max_skew_s=float("nan"))
    with pytest.raises(ValueError, match="repeat"):
        ObservationAssembler(SPEC, cameras=("front", "front"))
    with pytest.raises(ValueError, match="cannot name a camera"):
        ObservationAssembler(SPEC, cameras=("joints",))


def test_frame_and_joint_state_records_refuse_malformed_data():
    with pytest.raises(ValueError, match="uint8"):
        Frame(np.zeros((4, 4, 3), np.float32), 0.0, 1)
    with pytest.raises(ValueError, match="finite"):
        Frame(IMAGE, float("nan"), 1)
    with pytest.raises(ValueError, match="7 names but 6 positions"):
        JointState(NAMES, np.zeros(6), 0.0)


# ---- frozen streams, intrinsics --------------------------------------------------------------
def test_a_camera_repeating_its_capture_time_is_refused_as_frozen_and_resumes_when_it_advances():
    a = assembler(cameras=("front",), freeze=FreezeWatch(frozen_after=3))
    for t in (NOW - 0.1, NOW - 0.05):
        a.freeze.arrived("front", t)
    for _ in range(3):
        a.freeze.arrived("front", NOW - 0.05)  # the driver resends its last frame
    result = a.assemble(NOW, joints(), {"front": frame(NOW - 0.05)}, "go")
    assert isinstance(result, Refusal) and result.reason is RefusalReason.FROZEN and result.stream == "front"
    assert "last 3 messages repeat capture time" in result.detail
    a.freeze.arrived("front", NOW - 0.01)  # a new frame: the stream moves again
    assert isinstance(a.assemble(NOW, joints(), {"front": frame(NOW - 0.01)}, "go"), Observation)


def test_a_stamp_going_back_in_time_counts_towards_frozen():
    a = assembler(cameras=(), freeze=FreezeWatch(frozen_after=2))
    a.freeze.arrived("joints", NOW)
    a.freeze.arrived("joints", NOW - 1.0)
    assert isinstance(a.assemble(NOW, joints(), {}, "go"), Observation)  # once is not yet frozen
    a.freeze.arrived("joints", NOW - 0.5)
    result = a.assemble(NOW, joints(), {}, "go")
    assert result.reason is RefusalReason.FROZEN and result.stream == "joints"


def test_an_occasional_repeated_stamp_is_not_frozen():
    a = assembler(cameras=("front",), freeze=FreezeWatch(frozen_after=3))
    for k in range(20):
        a.freeze.arrived("front", NOW - 1 + 0.05 * k)
        if k % 4 == 0:
            a.freeze.arrived("front", NOW - 1 + 0.05 * k)  # a duplicate now and then (a republished message)
    assert isinstance(a.assemble(NOW, joints(), {"front": frame(NOW - 0.05)}, "go"), Observation)


def test_clearing_the_watch_lifts_a_frozen_refusal():
    a = assembler(cameras=(), freeze=FreezeWatch(frozen_after=1))
    a.freeze.arrived("joints", NOW)
    a.freeze.arrived("joints", NOW)
    assert a.assemble(NOW, joints(), {}, "go").reason is RefusalReason.FROZEN
    a.freeze.clear()
    assert isinstance(a.assemble(NOW, joints(), {}, "go"), Observation)


def test_a_frames_intrinsics_reach_the_observation():
    from roboalign.core.camera import Intrinsics

    k = Intrinsics(6, 4, 5.0, 5.5, 3.0, 2.0)
    obs = assembler().assemble(NOW, joints(), {"front": Frame(IMAGE, NOW, 1, intrinsics=k), "wrist": frame()}, "go")
    assert list(obs.intrinsics) == ["front"]
    np.testing.assert_array_equal(obs.intrinsics["front"], k.matrix())
