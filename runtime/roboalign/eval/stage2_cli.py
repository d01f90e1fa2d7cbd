"""`roboalign eval probe` (stage 2), registered by eval/cli.py; its flags are shared with the
checkpoint form of `roboalign eval compare` (compare_cli.py).

    roboalign eval probe --ckpt outputs/stage2_tiny --data outputs/sim_data/val [--label state --k 5]

Mistakes are one line and exit 2 (roboalign.errors). No heavy imports here: torch/transformers
load inside the command functions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from roboalign.arguments import float_range, int_range
from roboalign.eval.cli import check_inputs

LABELS = ("state", "gripper", "progress")  # eval/probe.py LABELS, repeated so --help stays import-free


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected joint indices like 0,1,2, got {text!r}") from None
    if any(d < 0 for d in dims) or len(set(dims)) != len(dims):
        raise argparse.ArgumentTypeError(f"joint indices must be distinct and >= 0, got {text!r}")
    return dims


def log_for(args):
    return (lambda *_a, **_k: None) if args.quiet else (lambda m: print(m, file=sys.stderr))


def set_threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def probe_config(args: argparse.Namespace):
    from roboalign.eval.probe import ProbeConfig

    kwargs = dict(label=args.label, bins=args.bins, k=args.k, layer=args.layer, test_fraction=args.test_fraction,
                  max_frames=args.probe_frames, include_state=args.include_state, seed=args.seed)
    if args.dims:
        kwargs["dims"] = args.dims
    return ProbeConfig(**kwargs)


def _probe(args: argparse.Namespace) -> int:
    from roboalign.eval.probe import probe_checkpoint

    check_inputs([args.ckpt], [args.data])
    set_threads(args)
    res = probe_checkpoint(args.ckpt, args.data, probe_config(args), log=log_for(args))
    print(f"k-NN probe ({res.label}, layer {res.layer}, k {res.k}): accuracy {res.accuracy:.3f} "
          f"(chance {res.chance:.3f}; {res.n_classes} classes, {res.n_train} bank / {res.n_test} test frames)")
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_dict(), indent=2))
    return 0


def add_probe_args(p: argparse.ArgumentParser) -> None:
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
    """Add `probe` to the `roboalign eval` subparsers."""
    pr = sub.add_parser("probe", help="k-NN probe of robot-state classes from backbone features")
    pr.add_argument("--ckpt", required=True, help="backbone checkpoint folder")
    pr.add_argument("--data", required=True, help="robot episodes (split by episode into bank and test)")
    pr.add_argument("--json", default=None, help="also write the result as JSON")
    add_probe_args(pr)
    pr.set_defaults(func=_probe)
