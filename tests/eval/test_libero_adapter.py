"""LIBERO on the server side and in the client's preprocessing (main venv, no LIBERO needed)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.policy import PolicyMetadata
from roboalign.policy import libero_spec as spec
from roboalign.policy.libero_adapter import LiberoAdapter, LiberoStandIn, example_observation, to_libero_actions
from roboalign.policy.registry import CHECKPOINT_FILE, load_policy


class FixedChunkPolicy:
    """A policy answering every observation with the same raw chunk; records what it saw."""

    def __init__(self, actions, cameras=("front", "hand"), details=None):
        self.actions = np.asarray(actions, np.float64)
        self.cameras = cameras
        self.details = details or {}
        self.seen: list[Observation] = []

    def infer(self, observation):
        self.seen.append(observation)
        return ActionChunk(actions=self.actions, start_time=observation.timestamp, dt=0.1, provenance="fixed")

    def metadata(self):
        return PolicyMetadata(policy="fixed", model_id="fixed", chunk_length=len(self.actions), control_period=0.1,
                              cameras=self.cameras, action_dim=self.actions.shape[1], details=self.details)

    def reset(self):
        pass


def test_gripper_conventions_map_to_libero_minus_one_open_plus_one_close():
    raw = np.array([[0.1, -0.2, 0.3, 0.0, 0.0, 0.0, 1.0],
                    [0.1, -0.2, 0.3, 0.0, 0.0, 0.0, 0.0]])
    assert to_libero_actions(raw, "open_unit")[:, 6].tolist() == [-1.0, 1.0]   # RLDS: 1 = open
    assert to_libero_actions(raw, "close_unit")[:, 6].tolist() == [1.0, -1.0]
    assert to_libero_actions(raw, "libero")[:, 6].tolist() == [1.0, 0.0]
    assert to_libero_actions(raw, "libero", binarize_gripper=True)[:, 6].tolist() == [1.0, -1.0]
    np.testing.assert_array_equal(to_libero_actions(raw, "open_unit")[:, :6], raw[:, :6])  # deltas untouched


def test_arm_deltas_are_clipped_to_the_controllers_range_and_bad_chunks_refused():
    out = to_libero_actions(np.array([[3.0, -2.0, 0.5, 0, 0, 0, -1.0]]))
    assert out[0, :3].tolist() == [1.0, -1.0, 0.5]
    with pytest.raises(ValueError, match=r"\[H, 7\]"):
        to_libero_actions(np.zeros((4, 8)))
    with pytest.raises(ValueError, match="NaN"):
        to_libero_actions(np.full((1, 7), np.nan))
    with pytest.raises(ValueError, match="convention"):
        to_libero_actions(np.zeros((1, 7)), "sideways")


def test_camera_image_rotates_180_degrees_and_resizes_256_to_224():
    raw = np.zeros((256, 256, 3), np.uint8)
    raw[:32, :64] = (255, 0, 0)  # top-left in the renderer's frame
    img = spec.camera_image(raw)
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    assert img[-10, -20].tolist() == [255, 0, 0] and img[10, 20].tolist() == [0, 0, 0]  # now bottom-right
    assert img[-10, 20].tolist() == [0, 0, 0]  # a rotation, not a vertical flip alone


def test_resize_agrees_with_pil_bilinear_as_openpi_resizes():
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    ours = spec.resize(raw, 224, 224).astype(int)
    theirs = np.asarray(pil.fromarray(raw).resize((224, 224), resample=pil.BILINEAR)).astype(int)
    assert np.abs(ours - theirs).max() <= 2 and np.abs(ours - theirs).mean() < 0.2


def test_state_is_eef_position_axis_angle_and_gripper_qpos():
    half = math.sqrt(0.5)  # 90 degrees about z, (x, y, z, w)
    obs = {"robot0_eef_pos": [0.1, 0.2, 0.3], "robot0_eef_quat": [0.0, 0.0, half, half],
           "robot0_gripper_qpos": [0.039, -0.039]}
    state = spec.state_vector(obs)
    np.testing.assert_allclose(state, [0.1, 0.2, 0.3, 0.0, 0.0, math.pi / 2, 0.039, -0.039], atol=1e-12)
    assert spec.quat_to_axis_angle([0.0, 0.0, 0.0, 1.0]).tolist() == [0.0, 0.0, 0.0]


def test_adapter_renames_cameras_and_maps_the_wrapped_chunk():
    inner = FixedChunkPolicy([[0.2] * 6 + [1.0]] * 3, details={"gripper_convention": "open_unit"})
    adapter = LiberoAdapter(inner, camera_map={"agentview": "front", "wrist": "hand"})
    chunk = adapter.infer(example_observation("put the bowl on the plate"))
    assert sorted(inner.seen[0].images) == ["front", "hand"]
    assert inner.seen[0].instruction == "put the bowl on the plate"
    assert chunk.actions.shape == (3, 7) and chunk.actions[:, 6].tolist() == [-1.0] * 3  # open, LIBERO-style
    assert chunk.dt == spec.CONTROL_PERIOD_S


def test_adapter_refuses_images_not_at_224_and_a_state_that_is_not_8d():
    adapter = LiberoAdapter(LiberoStandIn())
    obs = example_observation()
    with pytest.raises(ValueError, match="224x224"):
        adapter.infer(Observation(images={"agentview": np.zeros((256, 256, 3), np.uint8),
                                          "wrist": obs.images["wrist"]}, joint_positions=obs.joint_positions))
    with pytest.raises(ValueError, match="8-D state"):
        adapter.infer(Observation(images=obs.images, joint_positions=np.zeros(7)))
    with pytest.raises(ValueError, match="7-D"):
        LiberoAdapter(FixedChunkPolicy(np.zeros((2, 8))))


def test_standin_through_the_registry_is_libero_shaped_and_says_it_is_untrained():
    policy = load_policy("libero_adapter")
    meta = policy.metadata()
    assert (meta.action_dim, meta.cameras, meta.image_size, meta.action_frame) == (7, ("agentview", "wrist"),
                                                                                    (224, 224), "delta")
    assert meta.details["trained_on_libero"] is False and meta.details["gripper_convention"] == "close_unit"
    actions = policy.infer(example_observation()).actions
    raw = LiberoStandIn().infer(example_observation()).actions  # same seed, same weights
    assert actions.shape == (10, 7) and np.abs(actions).max() <= 1.0
    np.testing.assert_allclose(actions[:, 6], 2.0 * raw[:, 6] - 1.0)  # close_unit [0, 1] -> [-1, 1]


def test_checkpoint_folder_wraps_a_policy_named_relative_to_it(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / CHECKPOINT_FILE).write_text("kind: libero_adapter\nargs:\n  policy: ../standin\n")
    (tmp_path / "standin").mkdir()
    (tmp_path / "standin" / CHECKPOINT_FILE).write_text("kind: libero_standin\nargs: {horizon: 4}\n")
    policy = load_policy(tmp_path / "adapter")
    assert isinstance(policy, LiberoAdapter) and policy.metadata().chunk_length == 4
