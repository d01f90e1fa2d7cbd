"""`roboalign eval locate`: the localisation probe (training/locate_probe.py) on a stage-3 config.

Command wiring only (the `cli` layer may import training/; eval/ itself may not)."""
from __future__ import annotations

import json
from pathlib import Path


def main_locate(args) -> int:
    from roboalign.training.cli import load_run_config
    from roboalign.training.head_config import HeadRunConfig
    from roboalign.training.locate_probe import run_locate

    cfg = load_run_config(HeadRunConfig, args)
    res = run_locate(cfg, steps=args.steps, threads=args.threads)
    text = json.dumps(res.to_dict(), indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0
