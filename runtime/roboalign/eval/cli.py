"""`roboalign eval ...`: offline metrics of trained checkpoints and closed-loop simulation suites.

    roboalign eval tokens --ckpt outputs/stage1_tiny --data outputs/sim_data/val [--json out.json]
    roboalign eval probe ...            (stage2_cli.py)
    roboalign eval sim ...              (sim_cli.py: closed-loop simulation suites)
    roboalign eval compare ...          (compare_cli.py: eval-sim folders or checkpoints)

Mistakes (a missing or damaged checkpoint, missing data, a flag out of range) are one line and
exit 2 (roboalign.errors). No heavy imports here: torch/transformers load inside the command
functions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from roboalign.arguments import int_range
from roboalign.errors import CheckpointError, UsageError


def check_inputs(checkpoints: list[str], data: list[str | None]) -> None:
    """Refuse a checkpoint folder or a data path that does not exist, before any model loads."""
    for ckpt in checkpoints:
        if not Path(ckpt).is_dir():
            raise CheckpointError(ckpt, "no such checkpoint folder")
    for path in data:
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such episode folder or dataset")


def _tokens(args: argparse.Namespace) -> int:
    from roboalign.eval.tokens import evaluate_tokens, format_report

    check_inputs([args.ckpt], [args.data])
    log = (lambda *_a, **_k: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    result = evaluate_tokens(args.ckpt, args.data, max_frames=args.max_frames, batch_size=args.batch_size,
                             stride=args.stride, seed=args.seed, device=args.device,
                             constrained=not args.free_only, log=log)
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    return 0


def _locate(args: argparse.Namespace) -> int:
    # The probe trains on cached head features (training/), so it lives there; this is wiring.
    from roboalign.training.locate_cli import main_locate

    return main_locate(args)


def register(subparsers) -> None:
    ev = subparsers.add_parser("eval", help="evaluation: checkpoints offline, policies closed-loop in the sim suites")
    sub = ev.add_subparsers(dest="eval_command", metavar="WHAT")

    tok = sub.add_parser("tokens", help="held-out FAST token accuracy, valid rate, decoded-action L1 vs baselines")
    tok.add_argument("--ckpt", required=True, help="checkpoint folder written by `roboalign train sft`")
    tok.add_argument("--data", required=True, help="held-out episodes (episode folders or a LeRobot-style folder)")
    tok.add_argument("--max-frames", type=int_range(1), default=None, help="evaluate a seeded random subset of frames")
    tok.add_argument("--stride", type=int_range(1), default=1, help="keep every k-th frame of each episode")
    tok.add_argument("--batch-size", type=int_range(1, 4096), default=16)
    tok.add_argument("--device", default=None, help="torch device (default: where the weights load)")
    tok.add_argument("--seed", type=int_range(0), default=0)
    tok.add_argument("--json", default=None, help="also write the metrics as JSON to this file")
    tok.add_argument("--free-only", action="store_true",
                     help="skip the constrained-decoding pass (free greedy decoding only)")
    tok.add_argument("--quiet", action="store_true", help="no progress lines")
    tok.set_defaults(func=_tokens)

    loc = sub.add_parser("locate", help="localisation probe: named block's xy from frozen backbone features (cm)")
    loc.add_argument("--config", required=True, help="a stage-3 head config (backbone, data.train, data.val, cache)")
    loc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set backbone=outputs/stage1_grounded (repeatable)")
    loc.add_argument("--steps", type=int_range(1), default=1500, help="probe training steps (batch 64)")
    loc.add_argument("--threads", type=int_range(1, 64), default=1, help="torch threads")
    loc.add_argument("--json", default=None, help="also write the result as JSON to this file")
    loc.set_defaults(func=_locate)

    # Other evaluations register their parsers here, on `sub`.
    from roboalign.eval import compare_cli, sim_cli, stage2_cli


    stage2_cli.register(sub)   # `eval probe`
    sim_cli.register(sub)      # `eval sim`: closed-loop suites
    compare_cli.register(sub)  # `eval compare`: eval-sim folders or checkpoints, side by side
    from roboalign.eval import libero_cli  # `eval libero`: the client runs in .venv-libero

    libero_cli.register(sub)
    ev.set_defaults(func=lambda _a: (ev.print_help(), 2)[1])
