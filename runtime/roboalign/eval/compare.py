"""Before/after table for checkpoints (stage 1 vs stage 2): one markdown table + JSON.

    roboalign eval compare --ckpt outputs/stage1_tiny --ckpt outputs/stage2_tiny \
        --data outputs/sim_data/val --md docs/results/stage2_compare.md --json ...

Rows (every checkpoint evaluated on the same held-out frames, greedy decoding):
  action prompt      stage 1's `eval tokens` (eval/tokens.py): teacher-forced token accuracy,
                     generated prefix accuracy, valid rate, decoded L1 (normalised, physical)
  reasoning prompt   eval/reasoning.py: format rate, prefix accuracy, valid rate, decoded L1
  probe              k-NN accuracy of robot-state classes from backbone features (probe.py),
                     with the chance level of its test split
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.eval.probe import ProbeConfig

# (section, row label, path into the per-checkpoint dict, better: "up" | "down")
ROWS = (
    ("action prompt", "token accuracy (teacher-forced)", ("tokens", "token_accuracy"), "up"),
    ("action prompt", "prefix accuracy (generated)", ("tokens", "prefix_accuracy"), "up"),
    ("action prompt", "valid rate", ("tokens", "valid_rate"), "up"),
    ("action prompt", "decoded L1, normalised (valid)", ("tokens", "l1_normalized"), "down"),
    ("action prompt", "decoded L1, physical rad (valid)", ("tokens", "l1_physical"), "down"),
    ("reasoning prompt", "format rate", ("reasoning", "format_rate"), "up"),
    ("reasoning prompt", "prefix accuracy (r_action)", ("reasoning", "prefix_accuracy"), "up"),
    ("reasoning prompt", "valid rate", ("reasoning", "valid_rate"), "up"),
    ("reasoning prompt", "decoded L1, normalised (valid)", ("reasoning", "l1_normalized"), "down"),
    ("reasoning prompt", "decoded L1, physical rad (valid)", ("reasoning", "l1_physical"), "down"),
    ("probe", "k-NN accuracy", ("probe", "accuracy"), "up"),
    ("probe", "chance (majority class)", ("probe", "chance"), ""),
)


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    max_frames: int | None = 64  # held-out frames for the generation metrics (seeded subset)
    batch_size: int = 16
    seed: int = 0
    sections: tuple[str, ...] = ("tokens", "reasoning", "probe")
    reasoning_max_new_tokens: int | None = None  # default: eval/reasoning.py's budget
    probe: ProbeConfig = ProbeConfig()


def evaluate_checkpoint(ckpt: str | Path, data: str | Path, cfg: CompareConfig, probe_data: str | Path | None = None,
                        log=print) -> dict[str, Any]:
    out: dict[str, Any] = {"checkpoint": str(ckpt)}
    info_path = Path(ckpt) / "roboalign.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        out["stage"], out["trained_from"] = info.get("stage", ""), info.get("trained_from", "")
    if "tokens" in cfg.sections:
        from roboalign.eval.tokens import evaluate_tokens

        out["tokens"] = evaluate_tokens(ckpt, data, max_frames=cfg.max_frames, batch_size=cfg.batch_size,
                                        seed=cfg.seed, log=log).to_dict()
    if "reasoning" in cfg.sections:
        from roboalign.eval.reasoning import evaluate_reasoning

        out["reasoning"] = evaluate_reasoning(ckpt, data, max_frames=cfg.max_frames, batch_size=cfg.batch_size,
                                              seed=cfg.seed, max_new_tokens=cfg.reasoning_max_new_tokens,
                                              log=log).to_dict()
    if "probe" in cfg.sections:
        from roboalign.eval.probe import probe_checkpoint

        out["probe"] = probe_checkpoint(ckpt, probe_data or data, cfg.probe, log=log).to_dict()
    return out


def compare(ckpts: list[str | Path], data: str | Path, cfg: CompareConfig = CompareConfig(),
            labels: list[str] | None = None, probe_data: str | Path | None = None, log=print) -> dict[str, Any]:
    if len(ckpts) < 2:
        raise ValueError("compare needs at least two checkpoints (before and after)")
    labels = labels or [Path(c).name for c in ckpts]
    if len(labels) != len(ckpts):
        raise ValueError(f"{len(labels)} labels for {len(ckpts)} checkpoints")
    results = []
    for label, c in zip(labels, ckpts):
        log(f"== {label}: {c}")
        results.append({"label": label, **evaluate_checkpoint(c, data, cfg, probe_data, log)})
    return {"data": str(data), "probe_data": str(probe_data or data),
            "config": json.loads(json.dumps(dataclasses.asdict(cfg))), "results": results}


def _get(d: dict, path: tuple[str, ...]):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


_PER_FRAME = {("reasoning", "format_rate"): "format", ("reasoning", "prefix_accuracy"): "prefix",
              ("reasoning", "valid_rate"): "valid", ("reasoning", "l1_normalized"): "l1_normalized"}


def paired_ci(first: dict, last: dict, path: tuple[str, ...]) -> float | None:
    """Half-width of the 95% interval of the mean per-frame difference (normal approximation),
    on the frames both checkpoints were scored on (for L1: frames valid in both); None when the
    metric has no per-frame values."""
    key = _PER_FRAME.get(path)
    a, b = _get(first, (path[0], "per_frame")), _get(last, (path[0], "per_frame"))
    if key is None or not a or not b or a.get("source") != b.get("source"):
        return None
    pairs = [(x, y) for x, y in zip(a[key], b[key]) if x is not None and y is not None]
    if len(pairs) < 2:
        return None
    d = np.asarray([y - x for x, y in pairs], dtype=np.float64)
    return float(1.96 * d.std(ddof=1) / np.sqrt(len(d)))


def _delta_text(first: dict, other: dict, path: tuple[str, ...], v0: float, v: float, better: str) -> str:
    """'(+0.012 ± 0.010, better)': change from the first column, its paired 95% interval when
    per-frame values exist, and a verdict only when the change is outside that interval (rows
    without per-frame values get none: a probe or teacher-forced delta alone says nothing about
    its noise)."""
    delta = v - v0
    ci = paired_ci(first, other, path)
    text = f"{delta:+.3f}" + ("" if ci is None else f" ± {ci:.3f}")
    if better and ci is not None and abs(delta) > ci:  # no per-frame values: no verdict
        text += ", better" if (delta > 0) == (better == "up") else ", worse"
    return f" ({text})"


def markdown_table(report: dict[str, Any], baseline: str | int = 0) -> str:
    """Rows = metrics, columns = checkpoints; every other column also shows its change from the
    baseline column (the 'before' checkpoint: an index or a label; default the first)."""
    res = report["results"]
    labels = [r["label"] for r in res]
    b = baseline if isinstance(baseline, int) else labels.index(baseline) if baseline in labels else None
    if b is None or not 0 <= b < len(res):
        raise ValueError(f"baseline {baseline!r} is not one of the columns {labels}")
    lines = ["| section | metric | " + " | ".join(r["label"] for r in res) + " |", "|" + "---|" * (len(res) + 2)]
    for section, name, path, better in ROWS:
        vals = [_get(r, path) for r in res]
        if all(v is None for v in vals):
            continue
        cells = []
        for k, v in enumerate(vals):
            cell = "n/a" if v is None else f"{v:.3f}"
            if k != b and v is not None and vals[b] is not None and better:
                cell += _delta_text(res[b], res[k], path, vals[b], v, better)
            cells.append(cell)
        lines.append(f"| {section} | {name} | " + " | ".join(cells) + " |")
    probe = [_get(r, ("probe",)) for r in res]
    notes = [f"held-out frames: {report['data']}; changes are relative to `{labels[b]}`"]
    p = next((x for x in probe if x), None)
    if p:
        notes.append(f"probe: label {p['label']}, layer {p['layer']}, k {p['k']}, {p['n_classes']} classes, "
                     f"{p['n_train']} bank / {p['n_test']} test frames (split by episode), data {report['probe_data']}")
    n = [_get(r, ("tokens", "n_frames")) or _get(r, ("reasoning", "n_frames")) for r in res]
    if n and n[0]:
        notes.append(f"generation metrics on {n[0]} frames, greedy decoding; (change ± 95% "
                     "interval of the paired per-frame difference, reasoning rows only); better/worse only "
                     "outside that interval")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {x}" for x in notes) + "\n"


def write_report(report: dict[str, Any], md: str | Path | None, js: str | Path | None,
                 baseline: str | int = 0) -> str:
    table = markdown_table(report, baseline)
    if md:
        Path(md).parent.mkdir(parents=True, exist_ok=True)
        Path(md).write_text(table)
    if js:
        Path(js).parent.mkdir(parents=True, exist_ok=True)
        Path(js).write_text(json.dumps(report, indent=2))
    return table
