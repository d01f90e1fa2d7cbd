"""`roboalign train align` (stage 2), registered by training/cli.py.

    roboalign train align --config configs/align_tiny.yaml [--set grpo.max_steps=20 ...]

No heavy imports here: torch/transformers/trl load inside the command function.
"""
from __future__ import annotations

import argparse
import json
import sys


def _align(args: argparse.Namespace) -> int:
    from roboalign.training.align_config import AlignRunConfig
    from roboalign.training.config import parse_overrides

    try:
        cfg = AlignRunConfig.load(args.config, parse_overrides(args.set or []))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from roboalign.training.align import run_align

    summary = run_align(cfg)
    summary.pop("config", None)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub) -> None:
    """Add `align` to the `roboalign train` subparsers."""
    al = sub.add_parser("align", help="stage 2: RoboAlign GRPO on action-token accuracy (TRL GRPOTrainer)")
    al.add_argument("--config", required=True, help="YAML (see configs/align_tiny.yaml)")
    al.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. --set grpo.max_steps=20 (repeatable)")
    al.set_defaults(func=_align)
