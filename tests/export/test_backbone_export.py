"""The backbone's feature graph: parity with torch on real inputs, any batch/prompt/image shape,
the VLA served by onnxruntime end to end, and the cause of the old 0.9932 pinned down."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from roboalign.core import Observation
from roboalign.export.backbone import backbone_parity
from roboalign.export.parity import chain_parity, cosine
from roboalign.policy.backends import OnnxHeadRunner
from roboalign.policy.backends.backbone_graph import (
    OnnxBackboneRunner,
    backbone_feeds,
    find_backbone_onnx,
)
from roboalign.policy.vla import VLAPolicy

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "roboalign-sim-touch-tiny"


def _obs(seed: int, instruction: str = "touch the red block", hw=(56, 56)) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(images={"front": rng.integers(0, 256, (*hw, 3), dtype=np.uint8)},
                       joint_positions=rng.uniform(-1, 1, 7), instruction=instruction, timestamp=1.0)


@pytest.fixture(scope="module")
def bundled() -> VLAPolicy:
    return VLAPolicy.from_pretrained(BUNDLED)


@pytest.fixture(scope="module")
def sim_frames(bundled):
    """Rendered sim frames along expert rollouts, 3 layouts (real backbone inputs)."""
    from roboalign.export.cli import sim_observations

    return sim_observations(bundled, 6, per_episode=2)


@pytest.fixture(scope="module")
def tiny_export(tiny_vla_folder):
    """A random tiny VLA and its graph as `export onnx` wrote it (tests/conftest.py)."""
    return (VLAPolicy.from_pretrained(tiny_vla_folder),
            OnnxBackboneRunner(tiny_vla_folder / "onnx" / "backbone_features.onnx"))


def test_bundled_backbone_graph_is_shipped_and_matches_its_weights(bundled):
    path = find_backbone_onnx(bundled.backbone, bundled.info.feature_layer, BUNDLED)
    assert path == BUNDLED / "onnx" / "backbone_features.onnx"
    assert path.stat().st_size < 5e6  # small enough to ship beside the 3.9 MB backbone


def test_bundled_backbone_graph_matches_torch_on_sim_frames(bundled, sim_frames):
    runner = OnnxBackboneRunner(BUNDLED / "onnx" / "backbone_features.onnx")
    # one frame at a time, and a left-padded batch with instructions of different lengths
    mixed = [Observation(images=o.images, joint_positions=o.joint_positions, instruction=t)
             for o, t in zip(sim_frames[:3], ("touch the red block", "reach out and touch the green block", "tap it"))]
    encs = [bundled.encode([o]) for o in sim_frames] + [bundled.encode(mixed)]
    assert encs[-1]["attention_mask"].min() == 0  # the batch really is padded
    report = backbone_parity(bundled.backbone, bundled.info.feature_layer, runner, encs)
    assert report.passed and report.min_cosine > 0.9999 and report.max_abs_diff < 1e-4, report.summary()


def test_bundled_vla_chain_in_onnxruntime_matches_torch(bundled, sim_frames):
    report = chain_parity(bundled, OnnxHeadRunner(BUNDLED / "onnx" / "head_sampler.onnx"),
                          OnnxBackboneRunner(BUNDLED / "onnx" / "backbone_features.onnx"), sim_frames[:3])
    assert report.passed and report.max_abs_diff < 1e-4, report.summary()


def test_one_graph_serves_any_batch_prompt_length_and_image_size(tiny_export):
    policy, runner = tiny_export
    batches = [
        [_obs(1)],
        [_obs(2, "touch the blue cube please, carefully and slowly, right now"), _obs(3, "tap red")],
        [_obs(4, hw=(84, 112)), _obs(5, "touch the red block", hw=(56, 56)), _obs(6, "go", hw=(112, 56))],
    ]
    encs = [policy.encode(b) for b in batches]
    assert len({e["input_ids"].shape[1] for e in encs}) == 3 and len({e["pixel_values"].shape[0] for e in encs}) == 3
    report = backbone_parity(policy.backbone, policy.info.feature_layer, runner, encs)
    assert report.passed and report.max_abs_diff < 1e-4, report.summary()


def test_vla_serves_backbone_and_head_with_onnxruntime(tiny_vla_folder, tiny_export):
    torch_policy = tiny_export[0]
    ort_policy = VLAPolicy.from_pretrained(tiny_vla_folder, backend="onnxruntime")
    assert ort_policy._backbone_runner is not None and ort_policy.metadata().details["backbone_backend"] == "onnxruntime"
    obs = [_obs(7), _obs(8, "touch the blue cube")]
    noise = torch_policy.draw_noise(2)
    a, b = torch_policy.predict(obs, noise), ort_policy.predict(obs, noise)
    assert cosine(a, b) > 0.999 and np.abs(a - b).max() < 1e-4
    kept = VLAPolicy.from_pretrained(tiny_vla_folder, backend="onnxruntime", backbone_backend="torch")
    assert kept._backbone_runner is None


def test_missing_backbone_graph_names_the_command_that_builds_it(tiny_vla_folder, tmp_path, monkeypatch):
    import shutil

    from roboalign.errors import CheckpointError

    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path / "empty-cache"))
    folder = Path(shutil.copytree(tiny_vla_folder, tmp_path / "vla"))
    (folder / "onnx" / "backbone_features.onnx").unlink()
    with pytest.raises(CheckpointError, match=r"backbone_features.onnx: no ONNX feature graph .*`roboalign export onnx"):
        VLAPolicy.from_pretrained(folder, backend="onnxruntime")


def test_the_old_exports_divergence_was_its_missing_mrope_input(bundled, sim_frames):
    """The refused 0.9932: without mm_token_type_ids transformers builds 1-D positions instead of
    Qwen2.5-VL's 3-D mRoPE ids, so image tokens sit at the wrong rotary positions. In plain torch."""
    enc = bundled.encode(sim_frames[:1])
    layer = bundled.info.feature_layer
    with torch.no_grad():
        ref = bundled.backbone.features_from_inputs(enc, layer).hidden
        without = {k: v for k, v in enc.items() if k != "mm_token_type_ids"}
        bundled.backbone.model.model.rope_deltas = None
        old = bundled.backbone.features_from_inputs(without, layer).hidden
    assert cosine(ref.numpy(), old.numpy()) < 0.999
    pos = backbone_feeds(bundled.backbone, enc)["position_ids"]
    image = (enc["input_ids"] == bundled.backbone.model.config.image_token_id).numpy()
    # 3-D ids: the 8x8 patch grid merges to 4x4 tokens whose height/width ids span 4 values, not 16
    assert len(np.unique(pos[1][image])) == 4 and len(np.unique(pos[2][image])) == 4
