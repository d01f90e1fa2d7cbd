"""Paired intervals of two `sim run` summaries (eval/intervals.py over eval/stats.py)."""
from __future__ import annotations

import pytest

from roboalign.eval.intervals import paired


def test_paired_counts_only_discordant_seeds():
    a = {1: True, 2: True, 3: False, 4: False}
    b = {1: True, 2: False, 3: True, 4: True, 5: True}
    r = paired(a, b)
    assert (r["n"], r["a_only"], r["b_only"]) == (4, 1, 2)
    assert r["difference"] == pytest.approx(-0.25)
    assert r["difference_95"][0] < -0.25 < r["difference_95"][1]
