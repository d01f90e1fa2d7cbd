"""Side by side: two or more `roboalign eval sim` folders, paired on the same (suite, seed).

    report = compare_runs([Path("runs/expert"), Path("runs/vla")], labels=["expert", "vla"])
    print(markdown_table(report))

For every suite the folders share, each column shows its success rate with the Wilson 95%
interval on all of its episodes; every column after the baseline (the first unless named) also
shows the paired change from the baseline on the episodes both ran: the difference in success
rate with Newcombe's paired 95% interval (eval/stats.py, method 10) and the exact McNemar
p-value on the discordant episodes. Paired, because the same seed is the same scene, task and
variant in both runs: a change of checkpoint is judged on the same episodes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from roboalign.eval import stats
from roboalign.eval.suites import SUITES


def is_eval_run(folder: Path) -> bool:
    return (Path(folder) / "results.jsonl").is_file()


def _load(folder: Path) -> dict[tuple[str, int], bool]:
    out = {}
    for line in (Path(folder) / "results.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[(r["suite"], int(r["seed"]))] = bool(r["success"])
    return out


def _policy(folder: Path) -> str:
    try:
        return json.loads((Path(folder) / "summary.json").read_text()).get("policy", "")
    except (OSError, ValueError):
        return ""


def paired(base: dict[tuple[str, int], bool], other: dict[tuple[str, int], bool],
           keys: list[tuple[str, int]]) -> dict[str, Any]:
    both, only_a, only_b, neither = stats.paired_counts(base, other, keys)
    d, lo, hi = stats.paired_difference(both, only_a, only_b, neither)
    return {"n": len(keys), "both": both, "only_baseline": only_a, "only_this": only_b, "neither": neither,
            "difference": round(d, 4), "newcombe95": [round(lo, 4), round(hi, 4)],
            "mcnemar_p": float(f"{stats.mcnemar_exact(only_a, only_b):.4g}")}


def _rate(results: dict[tuple[str, int], bool], keys: list[tuple[str, int]]) -> dict[str, Any]:
    k = sum(results[x] for x in keys)
    lo, hi = stats.wilson(k, len(keys))
    return {"episodes": len(keys), "successes": k, "success_rate": round(k / len(keys), 4) if keys else 0.0,
            "wilson95": [round(lo, 4), round(hi, 4)]}


def compare_runs(folders: list[Path], labels: list[str] | None = None, baseline: int = 0) -> dict[str, Any]:
    if len(folders) < 2:
        raise ValueError("compare needs at least two eval folders")
    labels = labels or [Path(f).name for f in folders]
    runs = [_load(Path(f)) for f in folders]
    base = runs[baseline]
    suites = [s for s in SUITES if all(any(k[0] == s for k in r) for r in runs)]
    rows = []
    for suite in [*suites, "all"]:
        row: dict[str, Any] = {"suite": suite, "columns": []}
        for i, r in enumerate(runs):
            own = sorted(k for k in r if (k[0] in suites if suite == "all" else k[0] == suite))
            col = {"label": labels[i], **_rate(r, own)}
            if i != baseline:
                shared = sorted(k for k in own if k in base)
                col["paired"] = paired(base, r, shared)
            row["columns"].append(col)
        rows.append(row)
    return {"folders": [str(f) for f in folders], "labels": labels, "policies": [_policy(Path(f)) for f in folders],
            "baseline": labels[baseline], "suites": suites, "rows": rows}


def _p_text(p: float) -> str:
    return "< 1e-4" if p < 1e-4 else f"{p:.2g}"


def markdown_table(report: dict[str, Any]) -> str:
    labels, b = report["labels"], report["labels"].index(report["baseline"])
    head = ["suite"] + [f"{lab} success [Wilson 95%]" for lab in labels]
    head += [f"{lab} − {labels[b]} (paired n, Newcombe 95%, McNemar p)" for i, lab in enumerate(labels) if i != b]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        cells = [f"**{row['suite']}**" if row["suite"] == "all" else row["suite"]]
        for c in row["columns"]:
            lo, hi = c["wilson95"]
            cells.append(f"{c['successes']}/{c['episodes']} ({100 * c['success_rate']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}])")
        for i, c in enumerate(row["columns"]):
            if i == b:
                continue
            p = c["paired"]
            lo, hi = p["newcombe95"]
            verdict = "" if lo <= 0.0 <= hi else (", better" if p["difference"] > 0 else ", worse")
            cells.append(f"{100 * p['difference']:+.0f} pts [{100 * lo:+.0f}, {100 * hi:+.0f}] "
                         f"(n {p['n']}, p {_p_text(p['mcnemar_p'])}{verdict})")
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"{lab}: `{f}`" + (f" (policy {pol})" if pol else "")
             for lab, f, pol in zip(labels, report["folders"], report["policies"])]
    notes.append(f"changes are paired on the (suite, seed) episodes both folders ran, relative to `{labels[b]}`; "
                 "better/worse only when the Newcombe interval excludes 0")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
