"""`roboalign eval probe` and `roboalign eval compare` (stage 2), registered by eval/cli.py.

    roboalign eval probe --ckpt outputs/stage2_tiny --data outputs/sim_data/val [--label state --k 5]
    roboalign eval compare --ckpt BEFORE --ckpt AFTER --data outputs/sim_data/val --md table.md --json table.json

Mistakes are one line and exit 2 (roboalign.errors). No heavy imports here: torch/transformers
load inside the command functions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from roboalign.arguments import float_range, int_range, names_from
from roboalign.errors import UsageError
from roboalign.eval.cli import check_inputs

LABELS = ("state", "gripper", "progress")  # eval/probe.py LABELS, repeated so --help stays import-free
SECTIONS = ("tokens", "reasoning", "probe")


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected joint indices like 0,1,2, got {text!r}") from None
    if any(d < 0 for d in dims) or len(set(dims)) != len(dims):
        raise argparse.ArgumentTypeError(f"joint indices must be distinct and >= 0, got {text!r}")
    return dims


def _log(args):
    return (lambda *_a, **_k: None) if args.quiet else (lambda m: print(m, file=sys.stderr))


def _set_threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _probe_config(args: argparse.Namespace):
    from roboalign.eval.probe import ProbeConfig

    kwargs = dict(label=args.label, bins=args.bins, k=args.k, layer=args.layer, test_fraction=args.test_fraction,
                  max_frames=args.probe_frames, include_state=args.include_state, seed=args.seed)
    if args.dims:
        kwargs["dims"] = args.dims
    return ProbeConfig(**kwargs)


def _probe(args: argparse.Namespace) -> int:
    from roboalign.eval.probe import probe_checkpoint

    check_inputs([args.ckpt], [args.data])
    _set_threads(args)
    res = probe_checkpoint(args.ckpt, args.data, _probe_config(args), log=_log(args))
    print(f"k-NN probe ({res.label}, layer {res.layer}, k {res.k}): accuracy {res.accuracy:.3f} "
          f"(chance {res.chance:.3f}; {res.n_classes} classes, {res.n_train} bank / {res.n_test} test frames)")
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_dict(), indent=2))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from roboalign.eval.compare import CompareConfig, compare, write_report

    if len(args.ckpt) < 2:
        raise UsageError("compare needs at least two checkpoints (before and after): repeat --ckpt")
    labels = args.name or [Path(c).name for c in args.ckpt]
    if len(labels) != len(args.ckpt):
        raise UsageError(f"{len(args.name)} --name for {len(args.ckpt)} --ckpt: give one name per checkpoint or none")
    if len(set(labels)) != len(labels):
        raise UsageError(f"column labels {labels} repeat: give each checkpoint its own --name")
    if args.baseline is not None and args.baseline not in labels:
        raise UsageError(f"--baseline {args.baseline!r} is not a column; choose one of {', '.join(labels)}")
    check_inputs(args.ckpt, [args.data, args.probe_data])
    cfg = CompareConfig(max_frames=args.max_frames, batch_size=args.batch_size, seed=args.seed,
                        sections=args.sections, probe=_probe_config(args))
    _set_threads(args)
    report = compare(args.ckpt, args.data, cfg, labels=labels, probe_data=args.probe_data, log=_log(args))
    print(write_report(report, args.md, args.json, args.baseline if args.baseline is not None else 0))
    return 0


def _add_probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", default="state", choices=LABELS,
                   help="robot-state classes: quantised joints (state), gripper, episode progress (the task-phase "
                        "proxy: episodes record no phase)")
    p.add_argument("--bins", type=int_range(2, 64), default=2, help="levels per quantised dimension / progress parts")
    p.add_argument("--dims", type=_dims, default=None, help="state dims for --label state, e.g. 0,1,2 (default)")
    p.add_argument("--k", type=int_range(1, 1000), default=5, help="neighbours")
    p.add_argument("--layer", type=int, default=None,
                   help="decoder block, 0..N or -1..-(N+1) from the top (default: the checkpoint's feature layer)")
    p.add_argument("--test-fraction", type=float_range(0.01, 0.99), default=0.3,
                   help="share of episodes held out of the bank (0.01..0.99)")
    p.add_argument("--probe-frames", type=int_range(2), default=400, help="at most this many frames (seeded subset)")
    p.add_argument("--include-state", action="store_true", help="write the state text in the probe prompts")
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--threads", type=int_range(1, 1024), default=None,
                   help="torch CPU threads (1 is fastest on a loaded 2-core machine; default: torch's)")


def register(sub) -> None:
    """Add `probe` and `compare` to the `roboalign eval` subparsers."""
    pr = sub.add_parser("probe", help="k-NN probe of robot-state classes from backbone features")
    pr.add_argument("--ckpt", required=True, help="backbone checkpoint folder")
    pr.add_argument("--data", required=True, help="robot episodes (split by episode into bank and test)")
    pr.add_argument("--json", default=None, help="also write the result as JSON")
    _add_probe_args(pr)
    pr.set_defaults(func=_probe)

    cp = sub.add_parser("compare", help="before/after table of checkpoints (tokens, reasoning, probe)")
    cp.add_argument("--ckpt", action="append", required=True,
                    help="checkpoint folder; give two or more (before, after, ...)")
    cp.add_argument("--name", action="append", help="column label per --ckpt (default: folder names)")
    cp.add_argument("--baseline", default=None, help="label of the 'before' column the changes refer to (default: first)")
    cp.add_argument("--data", required=True, help="held-out robot episodes")
    cp.add_argument("--probe-data", default=None, help="episodes for the probe (default: --data)")
    cp.add_argument("--max-frames", type=int_range(1), default=64, help="held-out frames for generation metrics")
    cp.add_argument("--batch-size", type=int_range(1, 4096), default=16)
    cp.add_argument("--sections", type=names_from(SECTIONS), default=SECTIONS,
                    help="comma-separated subset of the rows: tokens, reasoning, probe (default all)")
    cp.add_argument("--md", default=None, help="write the markdown table here")
    cp.add_argument("--json", default=None, help="write every number here")
    _add_probe_args(cp)
    cp.set_defaults(func=_compare)
