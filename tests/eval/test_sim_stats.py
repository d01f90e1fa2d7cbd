"""Interval math of `eval sim` / `eval compare` against published values."""
from __future__ import annotations

import pytest

from roboalign.eval import stats


@pytest.mark.parametrize("k, n, lo, hi", [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", method 3
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_interval_matches_newcombes_table(k, n, lo, hi):
    got = stats.wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=6e-5)


def test_paired_difference_matches_newcombe_square_and_add():
    # Cavo et al. (2012) as in Fagerland, Lydersen & Laake, "Statistical analysis of contingency
    # tables", ch. 8: [[59, 6], [16, 80]] -> -0.0621 (95% CI -0.1186 to -0.0046). Their first
    # measurement is our B (p_B - p_A): 6 episodes only B succeeded, 16 only A.
    d, lo, hi = stats.paired_difference(both=59, only_a=16, only_b=6, neither=80)
    assert (d, lo, hi) == pytest.approx((-0.0621, -0.1186, -0.0046), abs=6e-5)


def test_paired_difference_of_identical_runs_is_zero_and_inside_bounds():
    d, lo, hi = stats.paired_difference(both=40, only_a=0, only_b=0, neither=10)
    assert d == 0.0 and -1.0 <= lo < 0.0 < hi <= 1.0
    assert stats.paired_difference(50, 0, 0, 0)[1:] == pytest.approx((-0.0713, 0.0713), abs=1e-3)


@pytest.mark.parametrize("only_a, only_b, p", [(1, 7, 0.0703125), (6, 16, 0.0525), (0, 0, 1.0), (5, 5, 1.0)])
def test_mcnemar_exact_two_sided(only_a, only_b, p):
    assert stats.mcnemar_exact(only_a, only_b) == pytest.approx(p, abs=5e-5)


def test_percentiles_interpolate_like_numpy():
    assert stats.percentiles([1, 2, 3, 4, 5]) == {"p50": 3.0, "p95": 4.8, "p99": 4.96}
    assert stats.percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
