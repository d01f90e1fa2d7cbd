"""Closed-loop success intervals (eval/intervals.py)."""
from __future__ import annotations

import pytest

from roboalign.eval.intervals import mcnemar_exact, paired, wilson


def test_wilson_matches_known_values_and_stays_in_0_1():
    lo, hi = wilson(90, 100)
    assert lo == pytest.approx(0.8256, abs=1e-3) and hi == pytest.approx(0.9448, abs=1e-3)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


def test_mcnemar_exact_is_symmetric_and_one_without_discordance():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(2, 9) == mcnemar_exact(9, 2) == pytest.approx(0.0654, abs=1e-3)


def test_paired_counts_only_discordant_seeds():
    a = {1: True, 2: True, 3: False, 4: False}
    b = {1: True, 2: False, 3: True, 4: True, 5: True}
    r = paired(a, b)
    assert (r["n"], r["a_only"], r["b_only"]) == (4, 1, 2)
    assert r["difference"] == pytest.approx(-0.25)
    assert r["difference_95"][0] < -0.25 < r["difference_95"][1]
