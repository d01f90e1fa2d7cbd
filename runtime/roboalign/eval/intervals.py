"""Intervals for two `roboalign sim run --json` summaries (the statistics live in eval/stats.py).

    python -m roboalign.eval.intervals A.json [B.json]

One summary: successes/n with the Wilson score interval (95%). Two summaries over the same seeds:
both Wilson intervals, the discordant counts (a_only = only A succeeded, b_only = only B), the
exact McNemar p-value and the paired difference A - B with Newcombe's paired interval (the same
numbers `roboalign eval compare` reports for `eval sim` folders).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from roboalign.eval.stats import mcnemar_exact, paired_counts, paired_difference, wilson


def paired(a: dict[int, bool], b: dict[int, bool]) -> dict:
    """Success of A and B on their common seeds: difference p_A - p_B and its 95% interval."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("paired: the two runs share no seeds")
    both, only_a, only_b, neither = paired_counts(a, b, seeds)
    # paired_difference gives p_B - p_A for (both, only_a, only_b, neither); swap to get A - B.
    diff, lower, upper = paired_difference(both, only_b, only_a, neither)
    return {"n": len(seeds), "a_only": only_a, "b_only": only_b, "difference": diff,
            "difference_95": (lower, upper), "mcnemar_p": mcnemar_exact(only_a, only_b)}


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
