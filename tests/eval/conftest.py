"""Eval fixtures: a tiny untrained backbone checkpoint on four tiny episodes (built once, ~3 s)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """ROOT with ROOT/ckpt (roboalign.json, model.safetensors, fast_tokenizer/, ...) and ROOT/eps."""
    from roboalign import config
    from roboalign.data.episode import Episode
    from roboalign.training.config import SFTRunConfig
    from roboalign.training.sft import prepare, save_checkpoint

    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    for e in range(4):
        q = np.cumsum(rng.normal(0, 0.05, (8, 7)), axis=0)
        Episode(instruction="touch the red block", images={"front": rng.integers(0, 256, (8, 56, 56, 3), dtype=np.uint8)},
                joint_positions=q, actions=q, timestamps=np.arange(8) * 0.1, success=True).save(root / "eps" / f"ep_{e}")
    cfg = config.from_mapping(SFTRunConfig, {
        "model": {"init": "tiny", "tiny": {"hidden_size": 32, "num_layers": 2, "vocab_size": 512}},
        "fast": {"vocab_size": 300},
        "data": {"horizon": 4, "sources": [{"kind": "episodes", "path": str(root / "eps")}]},
        "train": {"output_dir": str(root / "ckpt")},
    })
    prep = prepare(cfg, log=lambda *_: None)
    save_checkpoint(root / "ckpt", prep.backbone, prep.bridge, prep.info, prep.mean_chunk)
    return root
