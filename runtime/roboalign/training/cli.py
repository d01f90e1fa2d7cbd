"""`roboalign train ...`: stage-1 data and SFT (stage 2 `train align` registers beside them).

    roboalign train make-data --episodes 200 --val-episodes 30 --out outputs/sim_data
    roboalign train sft --config configs/sft_tiny.yaml [--set train.max_steps=50 ...]

No heavy imports here: torch/transformers load inside the command functions.
"""
from __future__ import annotations

import argparse
import json
import sys


def _make_data(args: argparse.Namespace) -> int:
    from roboalign.training.sim_data import SimDataConfig, make_sim_data

    cfg = SimDataConfig(
        episodes=args.episodes, val_episodes=args.val_episodes, vqa_states_per_episode=args.vqa_per_episode,
        seed=args.seed, cameras=tuple(args.cameras.split(",")), image_size=(args.image_size, args.image_size),
        families=tuple(args.families.split(",")), horizon=args.horizon,
    )
    manifest = make_sim_data(args.out, cfg)
    print(json.dumps(manifest["splits"], indent=2))
    return 0


def _sft(args: argparse.Namespace) -> int:
    from roboalign.training.config import SFTRunConfig, parse_overrides
    from roboalign.training.sft import run_sft

    try:
        cfg = SFTRunConfig.load(args.config, parse_overrides(args.set or []))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = run_sft(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="training: stage-1 data and SFT (stage 2: align)")
    sub = train.add_subparsers(dest="train_command", metavar="STEP")

    md = sub.add_parser("make-data", help="expert demos + embodied VQA from the simulator (stage-1 data)")
    md.add_argument("--episodes", type=int, default=100, help="training demonstrations")
    md.add_argument("--val-episodes", type=int, default=20, help="held-out demonstrations (own seeds)")
    md.add_argument("--vqa-per-episode", type=float, default=0.5, help="VQA scenes per demonstration (3 questions each)")
    md.add_argument("--out", required=True, help="output folder (train/ and val/ inside)")
    md.add_argument("--seed", type=int, default=0)
    md.add_argument("--cameras", default="front", help="comma-separated sim cameras (front, wrist)")
    md.add_argument("--image-size", type=int, default=128, help="square render size in pixels")
    md.add_argument("--families", default="touch", help="comma-separated task families (touch, push)")
    md.add_argument("--horizon", type=int, default=16, help="expert chunk length")
    md.set_defaults(func=_make_data)

    sft = sub.add_parser("sft", help="stage 1: SFT on FAST action tokens + VQA (TRL SFTTrainer)")
    sft.add_argument("--config", required=True, help="YAML (see configs/sft_tiny.yaml)")
    sft.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a config value, e.g. --set train.max_steps=20 (repeatable)")
    sft.set_defaults(func=_sft)

    # Stage 2 (`train align`) registers its parser here, on `sub`.
    from roboalign.training import align_cli  # stage 2: `train align`

    align_cli.register(sub)
    # Stage 3 (`train head`) registers its parser here too.
    from roboalign.training import head_cli  # stage 3: `train head`

    head_cli.register(sub)
    train.set_defaults(func=lambda _a: (train.print_help(), 2)[1])
