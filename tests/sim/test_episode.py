"""Episode record: validation, action chunks, crash-safe save/load round trip."""
from __future__ import annotations

import os

import numpy as np
import pytest

from roboalign.data.episode import Episode


def _episode(t: int = 6, cams=("front", "wrist")) -> Episode:
    rng = np.random.default_rng(0)
    return Episode(
        instruction="touch the red block",
        images={c: rng.integers(0, 255, size=(t, 8, 10, 3), dtype=np.uint8) for c in cams},
        joint_positions=rng.normal(size=(t, 7)),
        actions=np.arange(t * 7, dtype=np.float64).reshape(t, 7),
        timestamps=0.1 * np.arange(t),
        success=True,
        dt=0.1,
        metadata={"task": {"family": "touch", "target": "red_block", "seed": 3}, "gains": np.array([1.0, 2.0])},
    )


def test_save_then_load_round_trips_every_field(tmp_path):
    ep = _episode()
    path = ep.save(tmp_path / "ep0")
    back = Episode.load(path)
    assert back.instruction == ep.instruction and back.success is True and back.dt == 0.1
    assert back.cameras == ("front", "wrist")
    for cam in ep.images:
        np.testing.assert_array_equal(back.images[cam], ep.images[cam])
    np.testing.assert_array_equal(back.joint_positions, ep.joint_positions)
    np.testing.assert_array_equal(back.actions, ep.actions)
    np.testing.assert_array_equal(back.timestamps, ep.timestamps)
    assert back.metadata["task"] == {"family": "touch", "target": "red_block", "seed": 3}
    assert back.metadata["gains"] == [1.0, 2.0]


def test_episode_without_cameras_round_trips(tmp_path):
    ep = _episode(cams=())
    assert Episode.load(ep.save(tmp_path / "e")).images == {}


def test_save_leaves_no_temporary_folder_and_refuses_to_overwrite_by_default(tmp_path):
    ep = _episode()
    ep.save(tmp_path / "ep")
    assert sorted(os.listdir(tmp_path)) == ["ep"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ep.save(tmp_path / "ep")
    ep2 = _episode(t=3)
    ep2.save(tmp_path / "ep", overwrite=True)
    assert len(Episode.load(tmp_path / "ep")) == 3


def test_failed_save_keeps_no_partial_episode(tmp_path):
    ep = _episode()
    ep.metadata["bad"] = object()  # not JSON-able: the write fails midway
    with pytest.raises(TypeError):
        ep.save(tmp_path / "ep")
    assert os.listdir(tmp_path) == []


def test_load_of_a_folder_that_is_not_an_episode_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an episode folder"):
        Episode.load(tmp_path)


def test_action_chunk_slices_and_pads_with_the_last_action():
    ep = _episode(t=6)
    np.testing.assert_array_equal(ep.action_chunk(1, 3), ep.actions[1:4])
    tail = ep.action_chunk(4, 5)
    assert tail.shape == (5, 7)
    np.testing.assert_array_equal(tail[:2], ep.actions[4:6])
    np.testing.assert_array_equal(tail[2:], np.repeat(ep.actions[5:6], 3, axis=0))
    with pytest.raises(IndexError):
        ep.action_chunk(6, 2)


def test_mismatched_lengths_and_bad_images_are_rejected():
    ep = _episode()
    with pytest.raises(ValueError, match="timestamps"):
        Episode(ep.instruction, {}, ep.joint_positions, ep.actions[:-1], ep.timestamps, True)
    with pytest.raises(ValueError, match="uint8"):
        Episode(ep.instruction, {"front": ep.images["front"].astype(np.float32)}, ep.joint_positions,
                ep.actions, ep.timestamps, True)
