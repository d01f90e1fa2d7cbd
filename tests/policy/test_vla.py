"""VLAPolicy: frozen backbone + flow-matching head as a served Policy (tiny, random weights)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roboalign.core import ActionChunk, Observation
from roboalign.policy.registry import load_policy
from roboalign.policy.vla import VLAPolicy, build_tiny_vla

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "roboalign-sim-touch-tiny"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tiny_vla() -> VLAPolicy:
    return build_tiny_vla()


@pytest.fixture(scope="module")
def saved_vla(tiny_vla, tmp_path_factory) -> Path:
    return tiny_vla.save_pretrained(tmp_path_factory.mktemp("vla") / "ckpt")


def _obs(seed=0, instruction="touch the red block", hw=(56, 56), t=12.5) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(images={"front": rng.integers(0, 256, (*hw, 3), dtype=np.uint8)},
                       joint_positions=rng.uniform(-1, 1, 7), instruction=instruction, timestamp=t)


def test_infer_returns_an_absolute_chunk_stamped_at_the_observation(tiny_vla):
    obs = _obs()
    chunk = tiny_vla.infer(obs)
    assert isinstance(chunk, ActionChunk)
    assert chunk.actions.shape == (8, 7) and chunk.is_finite()
    assert chunk.start_time == obs.timestamp and chunk.observation_time == obs.timestamp and chunk.dt == 0.1
    # delta frame: the arm joints are offsets from the current joints, the gripper is absolute
    lo, hi = tiny_vla.action_stats.q_low, tiny_vla.action_stats.q_high
    delta = chunk.actions[:, :6] - obs.joint_positions[:6]
    assert np.all(delta >= lo[:6] - 1e-9) and np.all(delta <= hi[:6] + 1e-9)
    assert np.all(chunk.actions[:, 6] >= lo[6] - 1e-9) and np.all(chunk.actions[:, 6] <= hi[6] + 1e-9)


def test_same_noise_gives_the_same_chunk_and_reset_replays_the_noise(tiny_vla):
    obs = _obs(1)
    noise = tiny_vla.draw_noise(1)
    np.testing.assert_allclose(tiny_vla.predict([obs], noise), tiny_vla.predict([obs], noise))
    tiny_vla.reset()
    first = tiny_vla.infer(obs).actions
    tiny_vla.reset()
    np.testing.assert_allclose(tiny_vla.infer(obs).actions, first)


def test_batched_inference_matches_one_by_one(tiny_vla):
    obs = [_obs(2, "touch the red block"), _obs(3, "reach out and touch the blue cube please")]
    noise = tiny_vla.draw_noise(2)
    batched = tiny_vla.predict(obs, noise)
    single = np.concatenate([tiny_vla.predict([o], n[None]) for o, n in zip(obs, noise)])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    assert len(tiny_vla.infer_batch(obs)) == 2


def test_timings_report_backbone_and_head(tiny_vla):
    tiny_vla.infer(_obs())
    t = tiny_vla.last_timings_ms
    assert {"preprocess", "backbone", "head", "head_per_step", "total"} <= set(t)
    assert t["head"] > 0 and t["backbone"] > 0 and t["total"] >= t["head"]


def test_wrong_joint_count_is_refused_with_the_expected_count(tiny_vla):
    obs = Observation(images={"front": np.zeros((56, 56, 3), np.uint8)}, joint_positions=np.zeros(6))
    with pytest.raises(ValueError, match="expects 7 joint positions"):
        tiny_vla.infer(obs)


def test_example_observation_is_accepted(tiny_vla):
    assert tiny_vla.infer(tiny_vla.example_observation()).is_finite()


def test_save_and_load_round_trip_gives_identical_chunks(tiny_vla, saved_vla):
    again = VLAPolicy.from_pretrained(saved_vla)
    obs, noise = _obs(4), tiny_vla.draw_noise(1)
    np.testing.assert_allclose(again.predict([obs], noise), tiny_vla.predict([obs], noise), atol=1e-6)
    assert again.metadata()["norm_stats_hash"] == tiny_vla.metadata()["norm_stats_hash"]


def test_registry_loads_the_checkpoint_folder_as_a_vla(saved_vla):
    policy = load_policy(saved_vla)
    meta = policy.metadata()
    assert isinstance(policy, VLAPolicy)
    assert meta["policy"] == "vla" and meta["chunk_length"] == 8 and meta["action_dim"] == 7
    assert len(meta["norm_stats_hash"]) == 16
    assert load_policy(str(saved_vla), num_steps=2).num_steps == 2  # kwargs reach the loader


def test_onnxruntime_backend_agrees_with_torch(saved_vla, tmp_path, monkeypatch):
    from roboalign.export.backbone import ensure_backbone_onnx
    from roboalign.export.onnx import ensure_sampler_onnx
    from roboalign.export.parity import cosine

    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path))
    torch_policy = VLAPolicy.from_pretrained(saved_vla)
    ensure_sampler_onnx(torch_policy.head, saved_vla, torch_policy.num_steps)  # build time: into the cache
    ensure_backbone_onnx(torch_policy.backbone, torch_policy.info.feature_layer, saved_vla)
    ort_policy = VLAPolicy.from_pretrained(saved_vla, backend="onnxruntime")
    obs = [_obs(5), _obs(6)]
    noise = torch_policy.draw_noise(2)
    a, b = torch_policy.predict(obs, noise), ort_policy.predict(obs, noise)
    assert cosine(a, b) > 0.999 and np.abs(a - b).max() < 1e-4
    assert ort_policy.metadata()["backend"] == "onnxruntime"


def test_head_with_its_own_image_encoder_serves_and_exports(tmp_path, monkeypatch):
    from roboalign.export.backbone import ensure_backbone_onnx
    from roboalign.export.onnx import ensure_sampler_onnx
    from roboalign.export.parity import cosine

    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path / "cache"))
    folder = build_tiny_vla(head_image_size=16).save_pretrained(tmp_path / "vla")
    torch_policy = VLAPolicy.from_pretrained(folder)
    ensure_sampler_onnx(torch_policy.head, folder, torch_policy.num_steps)
    ensure_backbone_onnx(torch_policy.backbone, torch_policy.info.feature_layer, folder)
    ort_policy = VLAPolicy.from_pretrained(folder, backend="onnxruntime")
    obs = [_obs(7), _obs(8, hw=(64, 48))]  # any camera size: the head resizes for its encoder
    noise = torch_policy.draw_noise(2)
    a, b = torch_policy.predict(obs, noise), ort_policy.predict(obs, noise)
    assert np.isfinite(a).all() and np.abs(a - b).max() < 1e-4 and cosine(a, b) > 0.999
    assert torch_policy.metadata().details["head_image_encoder"] is True


def test_bundled_model_loads_and_returns_a_finite_chunk():
    assert (BUNDLED / "roboalign_policy.yaml").is_file(), f"bundled checkpoint missing at {BUNDLED}"
    policy = load_policy(BUNDLED)
    meta = policy.metadata()
    h, w = meta["image_size"]
    obs = Observation(images={c: np.full((h, w, 3), 90, np.uint8) for c in meta["cameras"]},
                      joint_positions=policy.example_observation().joint_positions, instruction="touch the red block")
    chunk = policy.infer(obs)
    assert chunk.actions.shape == (meta["chunk_length"], meta["action_dim"]) and chunk.is_finite()
    assert chunk.dt == meta["control_period"]


def test_bundled_onnx_graph_matches_the_bundled_head():
    from roboalign.policy.backends.graph import find_sampler_onnx

    policy = VLAPolicy.from_pretrained(BUNDLED)
    assert find_sampler_onnx(policy.head, BUNDLED, policy.num_steps) == BUNDLED / "onnx" / "head_sampler.onnx"


def test_onnxruntime_backend_without_a_built_graph_names_the_command(saved_vla, tmp_path, monkeypatch):
    from roboalign.errors import CheckpointError

    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CheckpointError, match=r"head_sampler.onnx: no ONNX graph .* `roboalign export onnx --policy"):
        VLAPolicy.from_pretrained(saved_vla, backend="onnxruntime", num_steps=3)


def test_bundled_model_touches_the_named_block_in_the_sim():
    """Direct control loop (executor + safety filter) on 4 held-out seeds (~2 s); docs/stage3.md has
    the 100-seed and ROS numbers."""
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode

    policy = VLAPolicy.from_pretrained(BUNDLED)
    arm = SimArm(render_size=tuple(policy.info.image_size), cameras=policy.info.cameras, task_family="touch")
    results = [run_sim_episode(arm, policy, 10_000 + i, max_seconds=6.0) for i in range(4)]
    assert sum(r.success for r in results) >= 3, [r.summary() for r in results]
