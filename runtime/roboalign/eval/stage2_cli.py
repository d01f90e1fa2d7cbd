"""`roboalign eval probe` and `roboalign eval compare` (stage 2), registered by eval/cli.py.

    roboalign eval probe --ckpt outputs/stage2_tiny --data outputs/sim_data/val [--label state --k 5]
    roboalign eval compare --ckpt BEFORE --ckpt AFTER --data outputs/sim_data/val --md table.md --json table.json

No heavy imports here: torch/transformers load inside the command functions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


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
        kwargs["dims"] = tuple(int(d) for d in args.dims.split(","))
    return ProbeConfig(**kwargs)


def _probe(args: argparse.Namespace) -> int:
    from roboalign.eval.probe import probe_checkpoint

    if not Path(args.ckpt).is_dir():
        print(f"error: checkpoint folder {args.ckpt} not found", file=sys.stderr)
        return 2
    _set_threads(args)
    res = probe_checkpoint(args.ckpt, args.data, _probe_config(args), log=_log(args))
    print(f"k-NN probe ({res.label}, layer {res.layer}, k {res.k}): accuracy {res.accuracy:.3f} "
          f"(chance {res.chance:.3f}; {res.n_classes} classes, {res.n_train} bank / {res.n_test} test frames)")
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_dict(), indent=2))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from roboalign.eval.compare import CompareConfig, compare, write_report

    missing = [c for c in args.ckpt if not Path(c).is_dir()]
    if missing:
        print(f"error: checkpoint folder(s) not found: {missing}", file=sys.stderr)
        return 2
    cfg = CompareConfig(max_frames=args.max_frames, batch_size=args.batch_size, seed=args.seed,
                        sections=tuple(args.sections.split(",")), probe=_probe_config(args))
    _set_threads(args)
    report = compare(args.ckpt, args.data, cfg, labels=args.name or None, probe_data=args.probe_data, log=_log(args))
    print(write_report(report, args.md, args.json, args.baseline if args.baseline is not None else 0))
    return 0


def _add_probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", default="state", choices=("state", "gripper", "progress", "phase"),
                   help="robot-state classes: quantised joints (state), gripper, episode progress (phase proxy)")
    p.add_argument("--bins", type=int, default=2, help="levels per quantised dimension / progress parts")
    p.add_argument("--dims", default=None, help="state dims for --label state, e.g. 0,1,2 (default)")
    p.add_argument("--k", type=int, default=5, help="neighbours")
    p.add_argument("--layer", type=int, default=None, help="decoder block (default: the checkpoint's feature layer)")
    p.add_argument("--test-fraction", type=float, default=0.3, help="share of episodes held out of the bank")
    p.add_argument("--probe-frames", type=int, default=400, help="at most this many frames (seeded subset)")
    p.add_argument("--include-state", action="store_true", help="write the state text in the probe prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--threads", type=int, default=None,
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
    cp.add_argument("--ckpt", action="append", required=True, help="checkpoint folder (repeat: before, after, ...)")
    cp.add_argument("--name", action="append", help="column label per --ckpt (default: folder names)")
    cp.add_argument("--baseline", default=None, help="label of the 'before' column the changes refer to (default: first)")
    cp.add_argument("--data", required=True, help="held-out robot episodes")
    cp.add_argument("--probe-data", default=None, help="episodes for the probe (default: --data)")
    cp.add_argument("--max-frames", type=int, default=64, help="held-out frames for generation metrics")
    cp.add_argument("--batch-size", type=int, default=16)
    cp.add_argument("--sections", default="tokens,reasoning,probe", help="comma-separated subset of the rows")
    cp.add_argument("--md", default=None, help="write the markdown table here")
    cp.add_argument("--json", default=None, help="write every number here")
    _add_probe_args(cp)
    cp.set_defaults(func=_compare)
