"""`roboalign train plan`: a full-size run sized from its config alone, on the meta device."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from roboalign.training.plan import plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sft_3b() -> dict:
    return plan(ROOT / "configs" / "sft_qwen2_5_vl_3b.yaml", gpus=8)


def test_3b_parameter_count_matches_the_published_size(sft_3b):
    assert sft_3b["model"] == "qwen2_5_vl_3b" and sft_3b["stage"] == "sft"
    assert abs(sft_3b["model_params_b"] - 3.75) < 0.01  # Qwen2.5-VL-3B-Instruct: 3.75 B (tied embeddings)
    by = sft_3b["params_b"]["by_part"]
    assert not by["vision_tower"]["trainable"] and by["decoder_layers"]["trainable"]  # stage 1: vision frozen
    assert by["lm_head"]["params_b"] == 0  # tied to embed_tokens, counted once
    # the stage adds 2 markers + 2,048 FAST rows to the 151,665-token vocabulary, padded to 64
    assert sft_3b["shapes"]["vocab_rows"] == 153728


def test_zero_stages_shard_what_they_promise(sft_3b):
    m, trainable = sft_3b["memory_gb_per_gpu"], sft_3b["params_b"]["trainable"] * 1e9
    assert m["zero0"]["total"] > m["zero2"]["total"] > m["zero3"]["total"]
    assert m["zero2"]["optimizer"] == pytest.approx(12 * trainable / 8 / 1024**3, abs=0.01)
    assert m["zero0"]["weights"] == m["zero2"]["weights"] > m["zero3"]["weights"]
    assert m["zero2"]["total"] < 80  # fits 8 x 80 GB as configs/accelerate/zero2.yaml says


def test_cli_prints_the_plan_and_writes_json(tmp_path, capsys):
    from roboalign.cli import main

    out = tmp_path / "plan.json"
    assert main(["train", "plan", "--config", str(ROOT / "configs" / "head_qwen2_5_vl_3b.yaml"), "--gpus", "1",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stage head, qwen2_5_vl_3b" in text and "action_head" in text and "feature_caching" in text
    report = json.loads(out.read_text())
    assert report["params_b"]["by_part"]["action_head"]["trainable"]
    assert report["params_b"]["trainable"] == pytest.approx(report["params_b"]["by_part"]["action_head"]["params_b"],
                                                            abs=1e-3)


def test_a_config_without_a_full_size_model_is_one_line(capsys):
    from cli_helpers import cli_mistake

    code, line = cli_mistake(capsys, ["train", "plan", "--config", str(ROOT / "configs" / "sft_tiny.yaml")])
    assert code == 2 and "pass --model" in line
