"""`roboalign train align` (stage 2), registered by training/cli.py.

    roboalign train align --config configs/align_tiny.yaml [--set grpo.max_steps=20 ...]

No heavy imports here: torch/transformers/trl load inside the command function, after the
configuration has been read and checked.
"""
from __future__ import annotations

import argparse
import json


def _align(args: argparse.Namespace) -> int:
    from roboalign.training.align_config import AlignRunConfig
    from roboalign.training.cli import load_run_config

    cfg = load_run_config(AlignRunConfig, args)  # every mistake here: one line, exit 2
    from roboalign.training.align import run_align

    summary = run_align(cfg)
    summary.pop("config", None)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub) -> None:
    """Add `align` to the `roboalign train` subparsers."""
    from roboalign.training.cli import add_config_args

    al = sub.add_parser("align", help="stage 2: RoboAlign GRPO on action-token accuracy (TRL GRPOTrainer)")
    add_config_args(al, "configs/align_tiny.yaml", "grpo.max_steps=20")
    al.set_defaults(func=_align)
