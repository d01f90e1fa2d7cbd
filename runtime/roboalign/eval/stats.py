"""Interval statistics for success rates: Wilson score, Newcombe's paired difference, McNemar.

All 95% by default (z = 1.959964). Plain math, no scipy.

  wilson(k, n)                      score interval of one success rate (Wilson 1927)
  paired_difference(a, b, c, d)     interval of p_B - p_A on the same episodes, Newcombe (1998),
                                    "Improved confidence intervals for the difference between
                                    binomial proportions based on paired data", method 10
                                    (square-and-add of the two Wilson intervals, with the
                                    continuity-corrected phi for their correlation)
  paired_counts(a, b, keys)         (both, only_a, only_b, neither) of two runs' outcomes on keys
  mcnemar_exact(b, c)               two-sided exact (binomial) McNemar p-value on the discordant
                                    pairs
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials; (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_counts(a: Mapping[Hashable, bool], b: Mapping[Hashable, bool],
                  keys: Iterable[Hashable]) -> tuple[int, int, int, int]:
    """(both, only_a, only_b, neither): how two runs' successes pair up on the same episodes
    (`keys`, e.g. seeds or (suite, seed)); the arguments of paired_difference."""
    keys = list(keys)
    both = sum(a[k] and b[k] for k in keys)
    only_a = sum(a[k] and not b[k] for k in keys)
    only_b = sum(b[k] and not a[k] for k in keys)
    return both, only_a, only_b, len(keys) - both - only_a - only_b


def paired_difference(both: int, only_a: int, only_b: int, neither: int,
                      z: float = Z95) -> tuple[float, float, float]:
    """(d, lower, upper) for d = p_B - p_A, the change in success rate from A to B on paired
    episodes: both = successes of both, only_a = A succeeded and B failed, only_b the reverse,
    neither = both failed. Newcombe's method 10."""
    n = both + only_a + only_b + neither
    if n == 0:
        return 0.0, -1.0, 1.0
    # Newcombe's notation, theta = p1 - p2 with p1 = B's rate and p2 = A's rate.
    e, f, g, h = both, only_b, only_a, neither
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson(e + f, n, z)
    l2, u2 = wilson(e + g, n, z)
    margins = (e + f) * (g + h) * (e + g) * (f + h)
    phi = 0.0
    if margins > 0:
        a = e * h - f * g
        a = a - n / 2 if a > n / 2 else (a if a < 0 else 0.0)  # continuity correction of phi
        phi = a / math.sqrt(margins)
    d = p1 - p2
    lower = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return d, max(-1.0, lower), min(1.0, upper)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: 2 * P(X <= min) for X ~ Binomial(only_a + only_b, 1/2)."""
    m = only_a + only_b
    if m == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2.0**m
    return min(1.0, 2.0 * tail)


def percentiles(values: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} (linear interpolation); zeros when there are no values."""
    if not values:
        return {f"p{q:g}": 0.0 for q in qs}
    import numpy as np

    return {f"p{q:g}": round(float(v), 3) for q, v in zip(qs, np.percentile(values, qs))}
