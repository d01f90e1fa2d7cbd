"""`roboalign train head`: stage 3, the flow-matching action head on a frozen backbone.

    roboalign train head --config configs/head_tiny.yaml [--set train.steps=2000 ...]

No heavy imports here: the backbone and the training code load inside the command function,
after the configuration has been read and checked (a typo fails in a second, not after the
features are cached).
"""
from __future__ import annotations

import argparse
import json


def _head(args: argparse.Namespace) -> int:
    from roboalign.training.cli import load_run_config
    from roboalign.training.head_config import HeadRunConfig

    cfg = load_run_config(HeadRunConfig, args)  # every mistake here: one line, exit 2
    from roboalign.training.head import run_head_training

    summary = run_head_training(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub) -> None:
    from roboalign.training.cli import add_config_args

    head = sub.add_parser("head", help="stage 3: flow-matching action head on the frozen backbone (cached features)")
    add_config_args(head, "configs/head_tiny.yaml", "train.steps=500")
    head.set_defaults(func=_head)
