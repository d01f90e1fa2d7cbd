"""Shipped configs parse: training YAMLs with our loader, launch configs with accelerate's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sft_tiny.yaml", "sft_qwen2_5_vl_7b.yaml", "sft_qwen3_vl_8b.yaml"])
def test_training_configs_load(name):
    from roboalign.training.config import SFTRunConfig

    cfg = SFTRunConfig.load(ROOT / "configs" / name)
    assert cfg.data.sources and cfg.train.learning_rate > 0
    if name != "sft_tiny.yaml":  # the paper's stage-1 recipe on the full-size backbones
        assert (cfg.train.learning_rate, cfg.train.lr_scheduler_type, cfg.train.warmup_ratio) == (2e-5, "cosine", 0.03)
        assert cfg.train.freeze_vision and cfg.fast.vocab_size == 2048 and cfg.train.num_train_epochs == 1


def test_accelerate_configs_parse_and_point_at_a_zero2_deepspeed_file():
    from accelerate.commands.config.config_args import load_config_from_file

    ddp = load_config_from_file(str(ROOT / "configs" / "accelerate" / "multi_gpu.yaml"))
    assert ddp.distributed_type.value == "MULTI_GPU"
    z2 = load_config_from_file(str(ROOT / "configs" / "accelerate" / "zero2.yaml"))
    assert z2.distributed_type.value == "DEEPSPEED"
    ds = json.loads((ROOT / z2.deepspeed_config["deepspeed_config_file"]).read_text())
    assert ds["zero_optimization"]["stage"] == 2
