"""`roboalign train head`: stage 3, the flow-matching action head on a frozen backbone.

    roboalign train head --config configs/head_tiny.yaml [--set train.steps=2000 ...]

No heavy imports here: torch/transformers load inside the command function.
"""
from __future__ import annotations

import argparse
import json
import sys


def _head(args: argparse.Namespace) -> int:
    from roboalign.training.config import parse_overrides
    from roboalign.training.head import run_head_training
    from roboalign.training.head_config import HeadRunConfig

    try:
        cfg = HeadRunConfig.load(args.config, parse_overrides(args.set or []))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = run_head_training(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub) -> None:
    head = sub.add_parser("head", help="stage 3: flow-matching action head on the frozen backbone (cached features)")
    head.add_argument("--config", required=True, help="YAML (see configs/head_tiny.yaml)")
    head.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="override a config value, e.g. --set train.steps=500 (repeatable)")
    head.set_defaults(func=_head)
