"""Stage-2 GRPO on a tiny backbone: 2 steps on CPU, metrics log, checkpoint round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("trl")

from roboalign.data.episode import Episode


def _write_episodes(root, n=4, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    for e in range(n):
        q = np.cumsum(rng.normal(0, 0.05, (steps, 7)), axis=0)
        q[:, 6] = (np.arange(steps) > steps // 2).astype(float)  # gripper closes half way
        actions = np.vstack([q[1:], q[-1:]])
        Episode(
            instruction=["touch the red block", "touch the blue cube"][e % 2],
            images={"front": rng.integers(0, 256, (steps, 56, 56, 3), dtype=np.uint8)},
            joint_positions=q, actions=actions, timestamps=np.arange(steps) * 0.1, success=True, dt=0.1,
        ).save(root / f"ep_{e:03d}")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A stage-1 checkpoint written by stage 1's own code path (0 SFT steps) + its episodes."""
    from roboalign import config
    from roboalign.training.config import SFTRunConfig
    from roboalign.training.sft import prepare, save_checkpoint

    root = tmp_path_factory.mktemp("stage2")
    _write_episodes(root / "episodes")
    cfg = config.from_mapping(SFTRunConfig, {
        "model": {"init": "tiny", "tiny": {"hidden_size": 32, "num_layers": 2, "vocab_size": 512}},
        "fast": {"vocab_size": 300},
        "data": {"horizon": 4, "action_frame": "delta", "absolute_dims": [6],
                 "sources": [{"kind": "episodes", "path": str(root / "episodes")}]},
        "train": {"output_dir": str(root / "stage1")},
    })
    prep = prepare(cfg, log=lambda *_: None)
    save_checkpoint(root / "stage1", prep.backbone, prep.bridge, prep.info, prep.mean_chunk)
    return root


def _align_cfg(root, **grpo):
    from roboalign import config
    from roboalign.training.align_config import AlignRunConfig

    return config.from_mapping(AlignRunConfig, {
        "model": {"checkpoint": str(root / "stage1")},
        "data": {"path": str(root / "episodes")},
        "subset": {"fraction": 0.1, "seed": 0, "min_count": 2},
        "bootstrap": {"steps": 1, "batch_size": 2},
        "rewards": {"format": 0.5, "action": 0.5, "l1": 0.25},
        "grpo": {"output_dir": str(root / "aligned"), "num_generations": 2, "per_device_train_batch_size": 4,
                 "max_completion_length": 12, "max_steps": 2, "beta": 0.04, "learning_rate": 1e-4,
                 "torch_threads": 1, **grpo},
    })


@pytest.fixture(scope="module")
def aligned(stage1):
    from roboalign.training.align import run_align

    summary = run_align(_align_cfg(stage1), log=lambda *_: None)
    return stage1 / "aligned", summary


def test_two_grpo_steps_log_every_stage2_metric(aligned):
    out, summary = aligned
    assert summary["global_step"] == 2
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for key in ("reward/format", "reward/action", "reward/l1", "format_rate", "valid_action_rate",
                "invalid_rate", "completion_length", "kl"):
        assert key in steps[0], key
    assert 0.0 <= steps[0]["format_rate"] <= 1.0 and steps[0]["completion_length"] <= 12


def test_rl_set_is_the_seeded_fraction_of_the_robot_frames(aligned):
    _, summary = aligned
    assert summary["robot_frames"] == 48 and summary["rl_frames"] == 5  # round(0.1 * 48)


def test_aligned_checkpoint_has_the_stage1_layout_and_reloads(aligned, tmp_path):
    import torch

    from roboalign.policy import checkpoint as ckpt
    from roboalign.policy.backbone import Backbone
    from roboalign.policy.token_policy import FastTokenPolicy

    out, _ = aligned
    for name in (ckpt.INFO_FILE, ckpt.FAST_DIR, ckpt.NORM_FILE, ckpt.MEAN_CHUNK_FILE, "config.json"):
        assert (out / name).exists(), name
    info = ckpt.CheckpointInfo.load(out)
    assert info.stage == "align" and info.trained_from.endswith("bootstrap") and info.horizon == 4
    a = Backbone.from_pretrained(out)
    a.save_pretrained(tmp_path / "again")
    b = Backbone.from_pretrained(tmp_path / "again")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    policy = FastTokenPolicy.from_pretrained(out)  # what stage 3 and the server load
    assert policy.info.action_dim == 7


def test_chat_template_renders_the_stage1_prompt_exactly(stage1):
    from roboalign.training.align import CHAT_TEMPLATE, check_prompt_rendering, grpo_rows, load_stage1

    loaded = load_stage1(stage1 / "stage1", _align_cfg(stage1))
    loaded.backbone.processor.chat_template = CHAT_TEMPLATE
    rows = grpo_rows(loaded, [3])
    check_prompt_rendering(loaded.backbone.processor, rows[0], loaded.frames[3], loaded.builder)  # raises on drift
    assert rows[0]["target_ids"][0] in loaded.bridge.fast_to_llm(range(loaded.bridge.num_fast))
    assert np.asarray(rows[0]["target_actions"]).shape == (4, 7)


def test_group_size_must_divide_the_batch(stage1):
    with pytest.raises(ValueError, match=r"grpo: per_device_train_batch_size \(4\) .* multiple of num_generations"):
        _align_cfg(stage1, num_generations=3)


def test_training_forward_marks_image_tokens_where_the_left_padded_prompt_has_them(stage1, tmp_path):
    """Regression: TRL re-runs the processor (default padding side) for the training forward
    pass and takes mm_token_type_ids (Qwen's 3-D rope positions) from it, while its prompt ids
    are left-padded; stage 1 saves a right-padding tokenizer. Misaligned types gave shorter
    prompts wrong rope positions, or a crash in get_rope_index mid-run."""
    import torch
    from trl.data_utils import prepare_multimodal_messages

    from roboalign.training.align import grpo_rows, load_stage1, make_trainer, reward_functions

    cfg = _align_cfg(stage1, max_steps=1, beta=0.0)
    loaded = load_stage1(stage1 / "stage1", cfg)
    assert loaded.backbone.tokenizer.padding_side == "right"  # as stage 1 saves it
    rows = grpo_rows(loaded, [0, 12])
    rows[1]["prompt"][-1]["content"][-1]["text"] += " Keep the wrist level and move slowly near the other blocks."
    make_trainer(loaded, rows, reward_functions(loaded, cfg.rewards), cfg.grpo, tmp_path)
    proc = loaded.backbone.processor
    texts = [proc.apply_chat_template(prepare_multimodal_messages(r["prompt"], images=r["images"]), tokenize=False,
                                      add_generation_prompt=True) for r in rows]
    enc = proc(images=[r["images"] for r in rows], text=texts, padding=True, return_tensors="pt")  # as TRL does
    assert enc["attention_mask"][0, 0] == 0 and enc["attention_mask"][0, -1] == 1  # left padded
    image_id = loaded.backbone.model.config.image_token_id
    assert torch.equal(enc["mm_token_type_ids"] == 1, enc["input_ids"] == image_id)
