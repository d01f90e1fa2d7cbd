"""Before/after table: every section computed on a tiny checkpoint, markdown + JSON written."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")


def test_compare_writes_one_table_with_every_section(tiny_ckpt):
    from roboalign.eval.compare import CompareConfig, compare, write_report
    from roboalign.eval.probe import ProbeConfig

    ck = str(tiny_ckpt / "ckpt")
    cfg = CompareConfig(max_frames=2, batch_size=2, reasoning_max_new_tokens=16, probe=ProbeConfig(k=3, label="progress", test_fraction=0.5, max_frames=16))
    report = compare([ck, ck], tiny_ckpt / "eps", cfg, labels=["before", "after"], log=lambda *_: None)
    table = write_report(report, tiny_ckpt / "t.md", tiny_ckpt / "t.json")
    for row in ("token accuracy", "format rate", "prefix accuracy (r_action)", "k-NN accuracy", "chance"):
        assert row in table
    assert "| before | after |" in table
    saved = json.loads((tiny_ckpt / "t.json").read_text())
    before, after = saved["results"]
    # same weights, greedy decoding, same frames: identical numbers
    assert before["reasoning"]["format_rate"] == after["reasoning"]["format_rate"]
    assert before["probe"]["accuracy"] == after["probe"]["accuracy"]
    assert 0.0 <= before["probe"]["chance"] <= 1.0


def test_compare_needs_two_checkpoints(tiny_ckpt):
    from roboalign.eval.compare import compare

    with pytest.raises(ValueError, match="two checkpoints"):
        compare([tiny_ckpt / "ckpt"], tiny_ckpt / "eps")


def _report(prefix_before, prefix_after):
    def res(label, p):
        return {"label": label, "reasoning": {"prefix_accuracy": float(np.mean(p)),
                                              "per_frame": {"source": [str(i) for i in range(len(p))], "prefix": p}}}
    return {"data": "val", "probe_data": "val", "results": [res("before", prefix_before), res("after", prefix_after)]}


def test_change_inside_the_paired_interval_gets_no_verdict():
    from roboalign.eval.compare import markdown_table

    rng = np.random.default_rng(0)
    before = rng.uniform(0, 1, 50).tolist()
    noisy = (np.asarray(before) + rng.normal(0, 0.3, 50)).tolist()
    row = next(line for line in markdown_table(_report(before, noisy)).splitlines() if "r_action" in line)
    assert "±" in row and "better" not in row and "worse" not in row


def test_clear_paired_improvement_is_called_better():
    from roboalign.eval.compare import markdown_table

    before = np.linspace(0, 0.5, 40).tolist()
    after = (np.asarray(before) + 0.2 + np.linspace(-0.01, 0.01, 40)).tolist()
    row = next(line for line in markdown_table(_report(before, after)).splitlines() if "r_action" in line)
    assert "+0.200 ±" in row and ", better)" in row
