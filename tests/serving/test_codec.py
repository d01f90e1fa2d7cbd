"""Observation / ActionChunk <-> wire: every field survives; malformed observations are named."""
from __future__ import annotations

import numpy as np
import pytest
from serving_helpers import make_observation

from roboalign.core.action import ActionChunk
from roboalign.serving import codec, errors, protocol
from roboalign.serving.errors import ProtocolError

LIMITS = protocol.DEFAULT_LIMITS


def through_wire(kind: str, body, arrays, kinds=protocol.REQUEST_KINDS) -> protocol.Message:
    return protocol.decode([bytes(f) for f in protocol.encode(kind, 1, body, arrays)], LIMITS, kinds)


def test_observation_survives_the_wire_with_every_field():
    obs = make_observation()
    back = codec.observation_from_wire(through_wire("infer", *codec.observation_to_wire(obs)), LIMITS)
    assert back.instruction == obs.instruction and back.timestamp == obs.timestamp
    assert back.capture_times == obs.capture_times
    assert set(back.images) == {"front", "wrist"}
    for cam in obs.images:
        assert np.array_equal(back.images[cam], obs.images[cam])
    assert np.array_equal(back.joint_positions, obs.joint_positions)
    assert np.array_equal(back.joint_velocities, obs.joint_velocities)
    assert set(back.privileged) == set(obs.privileged)
    for key, value in obs.privileged.items():
        assert back.privileged[key].dtype == np.asarray(value).dtype
        assert np.array_equal(back.privileged[key], value)


def test_joint_vectors_are_private_writable_copies_and_images_zero_copy_views():
    obs = make_observation()
    back = codec.observation_from_wire(through_wire("infer", *codec.observation_to_wire(obs)), LIMITS)
    back.joint_positions[0] = 123.0  # a policy may scribble on its state
    assert not back.images["front"].flags.writeable


def test_observation_without_velocities_or_images_round_trips():
    obs = make_observation()
    obs.joint_velocities = None
    obs.images = {}
    back = codec.observation_from_wire(through_wire("infer", *codec.observation_to_wire(obs)), LIMITS)
    assert back.joint_velocities is None and back.images == {}


def test_camera_intrinsics_travel_with_the_observation():
    obs = make_observation()
    k = np.array([[600.0, 0.0, 320.5], [0.0, 601.0, 240.25], [0.0, 0.0, 1.0]])
    obs.intrinsics = {"front": k}
    back = codec.observation_from_wire(through_wire("infer", *codec.observation_to_wire(obs)), LIMITS)
    assert list(back.intrinsics) == ["front"] and np.array_equal(back.intrinsics["front"], k)


@pytest.mark.parametrize("body, arrays, match", [
    ({"timestamp": 1.0}, {}, "no joint_positions"),
    ({"timestamp": float("nan")}, {"joint_positions": np.zeros(3)}, "timestamp"),
    ({"timestamp": 1.0, "instruction": 5}, {"joint_positions": np.zeros(3)}, "instruction"),
    ({"timestamp": 1.0, "capture_times": {"a": "x"}}, {"joint_positions": np.zeros(3)}, "capture_times"),
    ({"timestamp": 1.0, "colour": "red"}, {"joint_positions": np.zeros(3)}, "unknown observation fields"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros((2, 3))}, "joint_positions must be"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3, np.int32)}, "joint_positions must be"),
    ({"timestamp": 1.0}, {"joint_positions": np.array([0.0, np.nan])}, "NaN"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "joint_velocities": np.zeros(2)}, "differ in length"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "images/cam": np.zeros((4, 4), np.uint8)}, "uint8 \\[H, W, 3\\]"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "images/cam": np.zeros((4, 4, 3), np.float32)}, "uint8"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "depth": np.zeros(3)}, "unexpected array"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "images/": np.zeros((1, 1, 3), np.uint8)}, "unexpected array"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "intrinsics/cam": np.eye(4)}, "3, 3"),
    ({"timestamp": 1.0}, {"joint_positions": np.zeros(3), "intrinsics/cam": np.full((3, 3), np.inf)}, "finite"),
])
def test_malformed_observations_are_refused_with_a_reason(body, arrays, match):
    with pytest.raises(ProtocolError, match=match) as info:
        codec.observation_from_wire(through_wire("infer", body, arrays), LIMITS)
    assert info.value.code == errors.BAD_OBSERVATION


def test_action_chunk_and_timings_survive_the_wire():
    chunk = ActionChunk(actions=np.arange(12.0).reshape(4, 3), start_time=5.0, dt=0.1,
                        provenance="noop", observation_time=4.9)
    body, arrays = codec.chunk_to_wire(chunk, {"infer_ms": 1.5, "batch_size": 2})
    back, timing = codec.chunk_from_wire(through_wire("infer", body, arrays, protocol.REPLY_KINDS), LIMITS)
    assert np.array_equal(back.actions, chunk.actions) and back.actions.flags.writeable
    assert (back.start_time, back.dt, back.provenance, back.observation_time) == (5.0, 0.1, "noop", 4.9)
    assert timing == {"infer_ms": 1.5, "batch_size": 2}


@pytest.mark.parametrize("body, arrays", [
    ({"start_time": 0.0, "dt": 0.1}, {}),
    ({"start_time": 0.0, "dt": 0.1}, {"actions": np.zeros(3)}),
    ({"start_time": 0.0, "dt": 0.0}, {"actions": np.zeros((2, 3))}),
    ({"start_time": "now", "dt": 0.1}, {"actions": np.zeros((2, 3))}),
    ({"start_time": 0.0, "dt": 0.1, "timing": {"x": "slow"}}, {"actions": np.zeros((2, 3))}),
    ({"start_time": 0.0, "dt": 0.1}, {"actions": np.zeros((2, 3)), "extra": np.zeros(1)}),
])
def test_client_refuses_malformed_infer_replies(body, arrays):
    with pytest.raises(ProtocolError):
        codec.chunk_from_wire(through_wire("infer", body, arrays, protocol.REPLY_KINDS), LIMITS)
