"""`roboalign eval compare`: evaluations side by side, one command for both kinds of folder.

    roboalign eval compare eval_runs/before eval_runs/after [--name A --name B] [--md t.md --json t.json]
        `eval sim` folders (they hold results.jsonl): success per suite, paired on the same
        seeds (Newcombe 95% interval of the change, exact McNemar p): eval/sim_compare.py
    roboalign eval compare outputs/stage1_tiny outputs/stage2_tiny --data outputs/sim_data/val [...]
    roboalign eval compare --ckpt outputs/stage1_tiny --ckpt outputs/stage2_tiny --data ... [...]
        checkpoint folders: held-out token metrics, reasoning, k-NN probe: eval/compare.py

The kind is read from the folders: all of them `eval sim` outputs, or all of them checkpoints.
--ckpt is the checkpoint form's older spelling (folders may also be given positionally).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from roboalign.arguments import int_range, names_from
from roboalign.errors import UsageError
from roboalign.eval.cli import check_inputs
from roboalign.eval.stage2_cli import add_probe_args, log_for, probe_config, set_threads

SECTIONS = ("tokens", "reasoning", "probe")


def register(sub) -> None:
    cp = sub.add_parser("compare", help="evaluations side by side: `eval sim` folders (paired on seeds) or "
                                        "checkpoints (tokens, reasoning, probe)")
    cp.add_argument("folders", nargs="*", type=Path,
                    help="two or more `eval sim` output folders, or checkpoint folders")
    cp.add_argument("--ckpt", action="append", default=[], type=Path,
                    help="checkpoint folder (repeatable; same as giving it positionally)")
    cp.add_argument("--name", action="append", help="column label per folder (default: folder names)")
    cp.add_argument("--baseline", default=None, help="label of the 'before' column the changes refer to (default: first)")
    cp.add_argument("--md", default=None, help="write the markdown table here")
    cp.add_argument("--json", default=None, help="write every number here")
    ck = cp.add_argument_group("checkpoint folders only")
    ck.add_argument("--data", default=None, help="held-out robot episodes (required for checkpoints)")
    ck.add_argument("--probe-data", default=None, help="episodes for the probe (default: --data)")
    ck.add_argument("--max-frames", type=int_range(1), default=64, help="held-out frames for generation metrics")
    ck.add_argument("--batch-size", type=int_range(1, 4096), default=16)
    ck.add_argument("--sections", type=names_from(SECTIONS), default=SECTIONS,
                    help="comma-separated subset of the rows: tokens, reasoning, probe (default all)")
    add_probe_args(ck)
    cp.set_defaults(func=_compare)


def _labels(args: argparse.Namespace, folders: list[Path], what: str) -> list[str]:
    labels = args.name or [f.name for f in folders]
    if len(labels) != len(folders):
        raise UsageError(f"{len(args.name)} --name for {len(folders)} {what}: give one name per folder or none")
    if len(set(labels)) != len(labels):
        raise UsageError(f"column labels {labels} repeat: give each folder its own --name")
    if args.baseline is not None and args.baseline not in labels:
        raise UsageError(f"--baseline {args.baseline!r} is not a column; choose one of {', '.join(labels)}")
    return labels


def _compare(args: argparse.Namespace) -> int:
    from roboalign.eval.sim_compare import is_eval_run

    folders = [*args.folders, *args.ckpt]
    runs = [is_eval_run(f) for f in folders]
    if any(runs) and not args.ckpt:
        if not all(runs):
            others = [str(f) for f, r in zip(folders, runs) if not r]
            raise UsageError(f"{', '.join(others)}: no results.jsonl; compare `eval sim` folders with each other "
                             "and checkpoints with each other")
        return _compare_runs(args, folders)
    return _compare_checkpoints(args, folders)


def _compare_runs(args: argparse.Namespace, folders: list[Path]) -> int:
    from roboalign.eval.sim_compare import compare_runs, markdown_table

    if len(folders) < 2:
        raise UsageError("compare needs at least two `eval sim` folders")
    if args.data is not None:
        raise UsageError("--data applies to checkpoint folders; `eval sim` folders carry their own episodes")
    labels = _labels(args, folders, "folders")
    report = compare_runs(folders, labels, labels.index(args.baseline) if args.baseline else 0)
    if not report["suites"]:
        raise UsageError("the folders share no suite: run `eval sim` with the same --suite on each")
    table = markdown_table(report)
    _write(args, table, report)
    print(table)
    return 0


def _compare_checkpoints(args: argparse.Namespace, folders: list[Path]) -> int:
    from roboalign.eval.compare import CompareConfig, compare, write_report

    if len(folders) < 2:
        raise UsageError("compare needs at least two checkpoints (before and after) or two `eval sim` folders")
    labels = _labels(args, folders, "--ckpt")
    if args.data is None:
        raise UsageError("comparing checkpoints needs --data (held-out episodes); `eval sim` folders hold "
                         "results.jsonl")
    ckpts = [str(f) for f in folders]
    check_inputs(ckpts, [args.data, args.probe_data])
    cfg = CompareConfig(max_frames=args.max_frames, batch_size=args.batch_size, seed=args.seed,
                        sections=args.sections, probe=probe_config(args))
    set_threads(args)
    report = compare(ckpts, args.data, cfg, labels=labels, probe_data=args.probe_data, log=log_for(args))
    print(write_report(report, args.md, args.json, args.baseline if args.baseline is not None else 0))
    return 0


def _write(args: argparse.Namespace, table: str, report: dict) -> None:
    for path, text in ((args.md, table), (args.json, json.dumps(report, indent=2))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
