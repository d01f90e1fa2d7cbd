"""Stage 3 `train head`: cached features, a short run whose loss falls, a loadable VLA folder."""
from __future__ import annotations

import json

import pytest

from roboalign import config
from roboalign.training.head_config import HeadRunConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tiny_backbone_dir(tmp_path_factory):
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    out = tmp_path_factory.mktemp("backbone")
    build_tiny_qwen2_5_vl(corpus=["touch the red block", "tap the blue cube"]).save_pretrained(out)
    return out


def _config(backbone, data, out, **train):
    return config.from_mapping(HeadRunConfig, {
        "backbone": str(backbone),
        "data": {"train": [str(data / "train")], "val": [str(data / "val")], "horizon": 8, "action_frame": "delta",
                 "absolute_dims": [6], "cache_dir": str(out / "cache"), "feature_batch": 8},
        "head": {"d_model": 32, "num_layers": 2, "image_size": 16},
        "train": {"output_dir": str(out / "ckpt"), "steps": 40, "batch_size": 16, "learning_rate": 3e-3,
                  "warmup_steps": 5, "log_every": 10, "eval_every": 40, "ema": 0.9, "torch_threads": 1,
                  "aux_target": "sim", **train},
    })


def test_head_training_caches_features_learns_and_saves_a_servable_vla(stage1_data, tiny_backbone_dir, tmp_path):
    from roboalign.policy.registry import load_policy
    from roboalign.policy.vla import VLAPolicy
    from roboalign.training.head import run_head_training

    logs: list[str] = []
    summary = run_head_training(_config(tiny_backbone_dir, stage1_data, tmp_path), log=logs.append)
    records = [json.loads(x) for x in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] < losses[0]
    assert {"val_loss", "val_chunk_mae_rad", "val_select_accuracy"} <= set(records[-1])
    assert summary["head_parameters"] > 0 and summary["train_frames"] > 0

    policy = load_policy(tmp_path / "ckpt")
    assert isinstance(policy, VLAPolicy) and policy.metadata().details["head_image_encoder"] is True
    assert policy.backbone.num_layers == policy.info.feature_layer  # cut after the feature layer
    assert policy.infer(policy.example_observation()).is_finite()

    # a second run with the same backbone and data reads the cached features
    logs.clear()
    run_head_training(_config(tiny_backbone_dir, stage1_data, tmp_path, steps=2), log=logs.append)
    assert any(line.startswith("features: cached") for line in logs)


def test_config_refuses_unknown_keys_and_missing_training_data():
    with pytest.raises(ValueError, match="data.hozion: unknown key; did you mean horizon"):
        config.from_mapping(HeadRunConfig, {"backbone": "x", "data": {"train": ["a"], "hozion": 3}})
    with pytest.raises(ValueError, match="data.train: missing"):
        config.from_mapping(HeadRunConfig, {"backbone": "x", "data": {}})
    with pytest.raises(ValueError, match="data: train must list at least one episode folder"):
        config.from_mapping(HeadRunConfig, {"backbone": "x", "data": {"train": []}})


def test_head_eval_runs_the_bundled_policy_through_the_control_loop_with_safety_counts():
    """`train head`'s closed-loop check measures the deployed path: executor + safety filter."""
    from pathlib import Path

    from roboalign.policy.vla import VLAPolicy
    from roboalign.training.head import sim_success
    from roboalign.training.head_config import HeadEvalConfig

    bundled = Path(__file__).resolve().parents[2] / "models" / "roboalign-sim-touch-tiny"
    lines = []
    out = sim_success(VLAPolicy.from_pretrained(bundled), HeadEvalConfig(sim_episodes=2, seed=10_004, max_seconds=6.0),
                      log=lines.append)
    assert out["episodes"] == 2 and out["successes"] >= 1
    assert out["safety_interventions"]["rejected"] == 0 and "limited" in out["safety_interventions"]
    assert "direct loop" in lines[-1]
