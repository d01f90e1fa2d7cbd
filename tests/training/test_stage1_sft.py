"""Stage-1 SFT end to end on the tiny backbone: loss goes down, the checkpoint reloads, eval runs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from roboalign.policy import checkpoint as ckpt


def test_a_few_sft_steps_lower_the_loss(stage1_run):
    _cfg, summary, out = stage1_run
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert summary["global_step"] == 16 and len(losses) == 16
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.3, losses


def test_checkpoint_holds_model_processor_fast_tokenizer_and_stats(stage1_run):
    _cfg, _summary, out = stage1_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
                 ckpt.INFO_FILE, ckpt.NORM_FILE, ckpt.MEAN_CHUNK_FILE, ckpt.MEAN_ABS_CHUNK_FILE,
                 "fast_tokenizer/fast_tokenizer.json",
                 "fast_tokenizer/action_bridge.json", "metrics.jsonl", "train_summary.json"):
        assert (out / name).is_file(), name
    info = ckpt.CheckpointInfo.load(out)
    assert (info.stage, info.horizon, info.action_dim, info.action_frame) == ("sft", 8, 7, "delta")
    assert info.cameras == ("front",) and info.absolute_dims == (6,)
    assert np.load(out / ckpt.MEAN_CHUNK_FILE).shape == (8, 7)


def test_checkpoint_reloads_with_from_pretrained_and_the_action_tokens(stage1_run, stage1_data):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from roboalign.data.sources import open_robot_source
    from roboalign.policy.token_policy import FastTokenPolicy

    _cfg, _summary, out = stage1_run
    raw = Qwen2_5_VLForConditionalGeneration.from_pretrained(out)  # plain transformers
    policy = FastTokenPolicy.from_pretrained(out)  # checks the saved LLM ids of the action tokens
    assert raw.get_input_embeddings().weight.shape[0] == len(policy.backbone.tokenizer)
    s = open_robot_source(stage1_data / "val", horizon=8)[0]
    from roboalign.core import Observation

    obs = Observation(images={"front": s.images[0]}, joint_positions=s.state, instruction=s.instruction)
    chat, images = policy.backbone.chat_for(obs)
    enc = policy.backbone.encode([chat.prompt], [images])
    with torch.no_grad():
        assert torch.equal(raw(**enc).logits, policy.backbone.model(**enc).logits)
    pred = policy.predict([obs], max_new_tokens=12)[0]
    assert pred.actions.shape == (8, 7) and isinstance(pred.valid, bool)
    meta = policy.metadata()
    assert meta["chunk_length"] == 8 and meta["norm_stats_hash"] == policy.bridge.fast.normalizer.digest()


def test_eval_tokens_reports_accuracy_validity_and_l1_against_baselines(stage1_run, stage1_data, tmp_path):
    from roboalign.cli import main

    _cfg, _summary, out = stage1_run
    js = tmp_path / "eval.json"
    assert main(["eval", "tokens", "--ckpt", str(out), "--data", str(stage1_data / "val"),
                 "--max-frames", "6", "--batch-size", "3", "--json", str(js), "--quiet"]) == 0
    r = json.loads(js.read_text())
    assert r["n_frames"] == 6
    for key in ("token_accuracy", "prefix_accuracy", "exact_match_rate", "valid_rate"):
        assert 0.0 <= r[key] <= 1.0
    assert set(r["baselines"]) == {"mean_chunk", "mean_chunk_absolute", "hold"}
    assert r["baselines"]["mean_chunk"]["l1_physical_all"] > 0
    assert sum(r["invalid_reasons"].values()) == round(6 * (1 - r["valid_rate"]))


def test_config_and_cli_refuse_unknown_keys_with_the_known_ones(tmp_path, capsys):
    from roboalign.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {sources: [{kind: vqa, path: x}]}\ntrain: {learning_rte: 1}\n")
    assert main(["train", "sft", "--config", str(bad)]) == 2
    assert "learning_rate" in capsys.readouterr().err


def test_lora_run_with_gradient_checkpointing_merges_adapters_into_a_plain_checkpoint(stage1_data, stage1_config_text, tmp_path):
    from roboalign import config
    from roboalign.policy.backbone import Backbone
    from roboalign.training.config import SFTRunConfig
    from roboalign.training.sft import run_sft

    path = tmp_path / "lora.yaml"
    path.write_text(stage1_config_text.format(data=stage1_data, out=tmp_path / "ckpt"))
    cfg = config.load(SFTRunConfig, path, ["train.max_steps=2", "train.lora={enabled: true, r: 4, save_adapter: true}",
                                           "train.gradient_checkpointing=true"])
    summary = run_sft(cfg, log=lambda _m: None)
    assert summary["global_step"] == 2
    bb = Backbone.from_pretrained(tmp_path / "ckpt")
    assert not any("lora" in n for n, _ in bb.model.named_parameters())
    assert (tmp_path / "ckpt" / "adapter" / "adapter_config.json").is_file()


@pytest.mark.parametrize("value,expected", [("1e-3", 1e-3), ("2.0e-5", 2e-5)])
def test_yaml_exponent_without_dot_is_read_as_a_number(tmp_path, value, expected):
    from roboalign import config
    from roboalign.training.config import SFTRunConfig

    p = tmp_path / "c.yaml"
    p.write_text(f"data: {{sources: [{{kind: vqa, path: x}}]}}\ntrain: {{learning_rate: {value}}}\n")
    assert config.load(SFTRunConfig, p).train.learning_rate == pytest.approx(expected)


def test_stage1_checkpoint_is_served_by_the_policy_registry_as_fast_token(stage1_run):
    """`roboalign serve --policy <stage-1 folder>` goes through load_policy: the folder names its kind."""
    from roboalign.policy.registry import CHECKPOINT_FILE, load_policy
    from roboalign.policy.token_policy import FastTokenPolicy

    _cfg, _summary, out = stage1_run
    assert "kind: fast-token" in (out / CHECKPOINT_FILE).read_text()
    policy = load_policy(str(out))
    assert isinstance(policy, FastTokenPolicy)
    assert policy.metadata()["chunk_length"] == 8


def test_stage1_checkpoint_declares_the_robot_its_data_was_recorded_on(stage1_run):
    from roboalign.policy.registry import load_policy
    from roboalign.sim.arm import sim_robot_spec

    _cfg, _summary, out = stage1_run
    robot = load_policy(str(out)).metadata()["robot"]
    assert robot["joint_names"] == list(sim_robot_spec().joint_names)
