"""The files of an `eval sim` folder: results.jsonl, summary.json, report.md, plots, contact sheets.

    write_outputs(out, records, summary)   # everything below into `out`

  results.jsonl        one EpisodeRecord per line (sim_eval.py), sorted by suite then seed
  summary.json         sim_eval.summarize(): per suite, per condition, per target colour
  report.md            the tables a person reads, the plots and the contact sheets
  plots/success.png    success rate per suite with Wilson 95% intervals
  plots/failures.png   failure categories per suite
  plots/latency.png    inference latency p50/p95/p99 per suite
  contact/<suite>.png  8 frames of each recorded rollout (videos/<suite>_<seed>.mp4 beside)

Plots need matplotlib; without it report.md says so and the tables are all there is.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.eval.sim_eval import FAILURES, NEAR_MISS_MM, EpisodeRecord

FAILURE_TEXT = {"timeout": "timeout", "wrong_object": "wrong object", "safety": "safety stop",
                "policy_error": "policy error"}


def write_outputs(out: Path, records: list[EpisodeRecord], summary: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "results.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in records))
    _atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    plots = _plots(out, summary)
    sheets = _contact_sheets(out, records)
    _atomic(out / "report.md", markdown(summary, plots, sheets))
    return out / "report.md"


def load_records(folder: Path) -> list[dict[str, Any]]:
    path = Path(folder) / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rate_text(agg: dict[str, Any]) -> str:
    lo, hi = agg["wilson95"]
    return f"{100 * agg['success_rate']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def failures_text(agg: dict[str, Any]) -> str:
    parts = [f"{FAILURE_TEXT[f]} {agg['failures'][f]}" for f in FAILURES if agg["failures"].get(f)]
    if agg.get("near_misses"):
        parts[0] += f" ({agg['near_misses']} within {NEAR_MISS_MM / 10:.0f} cm)"
    return ", ".join(parts) or "–"


def suite_table(summary: dict[str, Any]) -> str:
    lines = ["| suite | what varies | success | rate [Wilson 95%] | failures | infer p50 / p95 / p99 ms "
             "| safety (episodes with interventions) | mean sim s (successes) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in summary["suites"].items():
        ms = s["infer_ms"]
        lines.append(f"| {name} | {s['description']} | {s['successes']}/{s['episodes']} | {rate_text(s)} | "
                     f"{failures_text(s)} | {ms['p50']:.1f} / {ms['p95']:.1f} / {ms['p99']:.1f} | "
                     f"{_safety_text(s)} | {s['mean_sim_s_success']:.2f} |")
    o = summary["overall"]
    lines.append(f"| **all** | | {o['successes']}/{o['episodes']} | {rate_text(o)} | {failures_text(o)} | "
                 f"{o['infer_ms']['p50']:.1f} / {o['infer_ms']['p95']:.1f} / {o['infer_ms']['p99']:.1f} | "
                 f"{_safety_text(o)} | {o['mean_sim_s_success']:.2f} |")
    return "\n".join(lines) + "\n"


def breakdown_table(summary: dict[str, Any], key: str, header: str) -> str:
    lines = [f"| suite | {header} | success | rate [Wilson 95%] | failures |", "|---|---|---|---|---|"]
    for name, s in summary["suites"].items():
        for label, agg in s[key].items():
            lines.append(f"| {name} | {label} | {agg['successes']}/{agg['episodes']} | {rate_text(agg)} | "
                         f"{failures_text(agg)} |")
    return "\n".join(lines) + "\n"


def _safety_text(agg: dict[str, Any]) -> str:
    nonzero = {k: v for k, v in agg["safety"].items() if v}
    ticks = ", ".join(f"{k} {v}" for k, v in nonzero.items())
    return f"{agg['episodes_with_safety_interventions']}" + (f" ({ticks} ticks)" if ticks else "")


def markdown(summary: dict[str, Any], plots: list[str] | None, sheets: dict[str, tuple[str, list[str]]]) -> str:
    cfg = summary["config"]
    meta = summary.get("policy_meta") or {}
    lines = [
        f"# Simulation evaluation: {meta.get('model_id') or summary['policy']}",
        "",
        f"- policy: `{summary['policy']}`; {summary['path']}",
        f"- seeds {summary['seeds'][0]}..{summary['seeds'][1]} in every suite ({cfg['episodes']} episodes each), "
        f"at most {cfg['max_seconds']:g} s of {'wall' if cfg.get('ros') else 'sim'} time per episode; {cfg['workers']} worker(s), "
        f"{summary['wall_s']:.0f} s wall",
        "- success rate with its Wilson 95% interval; failure categories: timeout (in brackets: how many of "
        f"them came within {NEAR_MISS_MM / 10:.0f} cm of the target's top), wrong object (the touch condition held "
        "on another object), safety stop (estop, rejected, hold, watchdog, workspace), policy error (infer raised)",
        f"- command: `roboalign eval sim --policy {summary['policy']} --suite {_suites_arg(cfg['suites'])} "
        f"--episodes {cfg['episodes']} --seed {cfg['seed']}{' --ros' if cfg.get('ros') else ''}`",
        "",
        "## Per suite",
        "",
        suite_table(summary),
        "## Per condition (what the variant changed)",
        "",
        breakdown_table(summary, "by_condition", "condition"),
        "## Per target colour",
        "",
        breakdown_table(summary, "by_colour", "target"),
    ]
    if plots is None:
        lines += ["(plots skipped: matplotlib is not installed)", ""]
    else:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    if sheets:
        lines += ["## Rollouts", "", "Eight evenly spaced front-camera frames per recorded episode; the mp4 "
                  "files are in videos/.", ""]
        for suite, (path, captions) in sheets.items():
            lines += [f"### {suite}", "", f"![{suite}]({path})", ""] + [f"- {c}" for c in captions] + [""]
    return "\n".join(lines)


def _suites_arg(names: list[str]) -> str:
    from roboalign.eval.suites import SUITES

    return "all" if list(names) == list(SUITES) else ",".join(names)


def _plots(out: Path, summary: dict[str, Any]) -> list[str] | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    (out / "plots").mkdir(exist_ok=True)
    names = list(summary["suites"])
    s = [summary["suites"][n] for n in names]
    x = np.arange(len(names))
    paths = []

    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.2))
    rate = np.array([a["success_rate"] for a in s])
    lo = rate - np.array([a["wilson95"][0] for a in s])
    hi = np.array([a["wilson95"][1] for a in s]) - rate
    ax.bar(x, rate, color="#4c72b0")
    ax.errorbar(x, rate, yerr=[lo, hi], fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (Wilson 95%)")
    paths.append(_save(fig, out / "plots" / "success.png"))

    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.2))
    bottom = np.zeros(len(names))
    for f, colour in zip(FAILURES, ("#dd8452", "#c44e52", "#8172b3", "#937860")):
        v = np.array([a["failures"][f] for a in s], dtype=float)
        ax.bar(x, v, bottom=bottom, label=FAILURE_TEXT[f], color=colour)
        bottom += v
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("failed episodes")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "plots" / "failures.png"))

    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.2))
    for i, (q, colour) in enumerate(zip(("p50", "p95", "p99"), ("#55a868", "#4c72b0", "#c44e52"))):
        ax.bar(x + (i - 1) * 0.27, [a["infer_ms"][q] for a in s], width=0.27, label=q, color=colour)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("inference latency (ms, wall)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "plots" / "latency.png"))
    return [str(Path(p).relative_to(out)) for p in paths]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _contact_sheets(out: Path, records: list[EpisodeRecord]) -> dict[str, tuple[str, list[str]]]:
    """contact/<suite>.png: one row of frames per recorded episode with a green (success) or red
    (failure) bar at its left; returns suite -> (path, one caption per row)."""
    from PIL import Image  # a declared dependency (pillow)

    sheets = {}
    by_suite: dict[str, list[EpisodeRecord]] = {}
    for r in records:
        if r.frames:
            by_suite.setdefault(r.suite, []).append(r)
    for suite, rs in by_suite.items():
        rows = []
        for r in rs:
            frames = np.load(out / r.frames)
            row = np.concatenate(list(frames), axis=1)
            bar = np.zeros((row.shape[0], 12, 3), dtype=np.uint8)
            bar[:] = (40, 170, 60) if r.success else (200, 40, 40)
            row = np.concatenate([bar, row], axis=1)
            rows.append(row)
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        (out / "contact").mkdir(exist_ok=True)
        Image.fromarray(np.concatenate(rows, axis=0)).save(out / "contact" / f"{suite}.png")
        captions = [f"row {i + 1}: seed {r.seed}, '{r.instruction}': "
                    + ("success" if r.success else FAILURE_TEXT[r.failure])
                    + (f" ({r.wrong_object})" if r.failure == "wrong_object" else "")
                    + (f", [mp4]({r.video})" if r.video else "") for i, r in enumerate(rs)]
        sheets[suite] = (f"contact/{suite}.png", captions)
    return sheets


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
