"""Intervals for closed-loop success rates: one policy (Wilson) and two on the same seeds (paired).

    python -m roboalign.eval.intervals A.json [B.json]      # `roboalign sim run --json` summaries

One summary: successes/n with the Wilson score interval (95%). Two summaries over the same seeds:
both Wilson intervals, the discordant counts (b = only A succeeded, c = only B), the exact
McNemar p-value (two-sided binomial test of b vs c) and the paired difference of success rates
with its Wald interval from the discordant pairs (Agresti's paired-proportion interval).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n <= 0:
        raise ValueError("wilson: n must be > 0")
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: P(X <= min(b, c)) * 2 for X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired(a: dict[int, bool], b: dict[int, bool], z: float = 1.959964) -> dict:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("paired: the two runs share no seeds")
    n = len(seeds)
    only_a = sum(a[s] and not b[s] for s in seeds)
    only_b = sum(b[s] and not a[s] for s in seeds)
    diff = (only_a - only_b) / n
    se = math.sqrt(max(0.0, (only_a + only_b) / n - diff * diff) / n)
    return {"n": n, "a_only": only_a, "b_only": only_b, "difference": diff,
            "difference_95": (diff - z * se, diff + z * se), "mcnemar_p": mcnemar_exact(only_a, only_b)}


def outcomes(summary: dict) -> dict[int, bool]:
    return {int(e["seed"]): bool(e["success"]) for e in summary["per_episode"]}


def main(argv: list[str]) -> int:
    runs = [json.loads(Path(p).read_text()) for p in argv]
    out = {}
    for path, s in zip(argv, runs):
        lo, hi = wilson(s["successes"], s["episodes"])
        out[path] = {"successes": s["successes"], "episodes": s["episodes"], "rate": s["success_rate"],
                     "wilson_95": (round(lo, 4), round(hi, 4))}
    if len(runs) == 2:
        out["paired (first - second)"] = paired(outcomes(runs[0]), outcomes(runs[1]))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
