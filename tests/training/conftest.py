"""Stage-1 fixtures: a small simulator data set and a checkpoint trained on it (built once)."""
from __future__ import annotations

from pathlib import Path

import pytest

STAGE1_CONFIG = """
model:
  init: tiny
  tiny: {{family: qwen2_5_vl}}
fast: {{vocab_size: 256}}
prompt: {{system: null}}
data:
  horizon: 8
  action_frame: delta
  absolute_dims: [6]
  sources:
    - {{kind: episodes, path: {data}/train, weight: 0.8}}
    - {{kind: vqa, path: {data}/train/vqa/vqa.jsonl, weight: 0.2}}
train:
  output_dir: {out}
  max_steps: 16
  per_device_train_batch_size: 4
  learning_rate: 3.0e-3
  warmup_ratio: 0.0
  lr_scheduler_type: constant
  logging_steps: 1
  freeze_vision: true
  seed: 0
"""


@pytest.fixture(scope="session")
def stage1_data(tmp_path_factory) -> Path:
    """3 training + 1 held-out expert demonstration (touch), with VQA: ~5 s."""
    from roboalign.training.sim_data import SimDataConfig, make_sim_data

    out = tmp_path_factory.mktemp("stage1_data")
    make_sim_data(out, SimDataConfig(episodes=3, val_episodes=1, vqa_states_per_episode=1.0, horizon=8,
                                     image_size=(112, 112)), progress=lambda _m: None)
    return out


@pytest.fixture(scope="session")
def stage1_config_text():
    return STAGE1_CONFIG


@pytest.fixture(scope="session")
def stage1_run(stage1_data, tmp_path_factory):
    """(config, summary, output folder) of a 16-step SFT run on stage1_data."""
    from roboalign import config
    from roboalign.training.config import SFTRunConfig
    from roboalign.training.sft import run_sft

    out = tmp_path_factory.mktemp("stage1_ckpt")
    path = out / "sft.yaml"
    path.write_text(STAGE1_CONFIG.format(data=stage1_data, out=out))
    cfg = config.load(SFTRunConfig, path)
    summary = run_sft(cfg, log=lambda _m: None)
    return cfg, summary, out
