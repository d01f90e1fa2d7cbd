"""`roboalign train ...`: stage-1 data and SFT; stage 2 (`train align`, align_cli.py) and
stage 3 (`train head`, head_cli.py) register beside them.

    roboalign train make-data --episodes 200 --val-episodes 40 --families touch --out outputs/sim_data
    roboalign train sft --config configs/sft_tiny.yaml [--set train.max_steps=50 ...]

Every stage reads its YAML through roboalign.config (one line per mistake, exit 2) before any
training code is imported. No heavy imports here: torch/transformers load inside the commands.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from roboalign.arguments import float_range, int_range, names_from
from roboalign.errors import UsageError
from roboalign.sim.tasks import FAMILIES

SIM_CAMERAS = ("front", "wrist")  # the cameras of sim/assets (SimArm.camera_names)
MAX_EPISODES = 1_000_000  # training seeds stay below the validation seeds (sim_data.VAL_SEED_OFFSET)


def _make_data(args: argparse.Namespace) -> int:
    from roboalign.training.sim_data import SimDataConfig, add_grounding, make_sim_data

    cfg = SimDataConfig(
        episodes=args.episodes, val_episodes=args.val_episodes, vqa_states_per_episode=args.vqa_per_episode,
        grounding_per_episode=args.grounding_per_episode,
        seed=args.seed, cameras=args.cameras, image_size=(args.image_size, args.image_size),
        families=args.families, horizon=args.horizon,
    )
    if args.grounding_only:
        if not args.grounding_per_episode:
            raise UsageError("--grounding-only needs --grounding-per-episode > 0")
        path = Path(args.out) / "manifest.json"
        manifest = json.loads(path.read_text()) if path.is_file() else {"splits": {}}
        manifest = add_grounding(Path(args.out), cfg, manifest)
        manifest.setdefault("config", {})["grounding_per_episode"] = cfg.grounding_per_episode
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2))
    else:
        manifest = make_sim_data(args.out, cfg)
    print(json.dumps(manifest["splits"], indent=2))
    return 0


def load_run_config(cls, args: argparse.Namespace):
    """Read --config with its --set overrides and check that the inputs it names exist, before
    any training code is imported: each mistake is one line (ConfigError/UsageError, exit 2)."""
    from roboalign import config

    cfg = config.load(cls, args.config, args.set)
    missing = [(key, path) for key, path in cfg.inputs().items() if not Path(path).exists()]
    if missing:
        key, path = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UsageError(f"{args.config}: {key}: {path} does not exist{more}; run the step that writes it first "
                         "(docs/stage1.md, stage2.md, stage3.md)")
    return cfg


def _sft(args: argparse.Namespace) -> int:
    from roboalign.training.config import SFTRunConfig

    cfg = load_run_config(SFTRunConfig, args)
    from roboalign.training.sft import run_sft

    summary = run_sft(cfg)
    print(json.dumps(summary, indent=2))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from roboalign.training.plan import format_plan, plan

    report = plan(args.config, args.gpus, args.model, args.seq_len, args.set)
    print(format_plan(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def add_config_args(parser: argparse.ArgumentParser, example: str, override: str) -> None:
    """--config FILE and repeatable --set KEY=VALUE, the same for every training stage."""
    parser.add_argument("--config", required=True, help=f"YAML (see {example})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config value, e.g. --set {override} (repeatable)")


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="training: stage-1 data and SFT, stage 2 align, stage 3 head")
    sub = train.add_subparsers(dest="train_command", metavar="STEP")

    md = sub.add_parser("make-data", help="expert demos + embodied VQA from the simulator (stage-1 data)")
    md.add_argument("--episodes", type=int_range(1, MAX_EPISODES), default=100, help="training demonstrations")
    md.add_argument("--val-episodes", type=int_range(0, MAX_EPISODES), default=20,
                    help="held-out demonstrations (own seeds); 0 writes no val split")
    md.add_argument("--vqa-per-episode", type=float_range(0.0, 100.0), default=0.5,
                    help="VQA scenes per demonstration (3 questions each)")
    md.add_argument("--grounding-per-episode", type=float_range(0.0, 100.0), default=0.0,
                    help="spatial-grounding VQA scenes per demonstration (8 questions each: where is each "
                         "block on the table / in the image, which is nearer, what changed); training/grounding.py")
    md.add_argument("--grounding-only", action="store_true",
                    help="only add the grounding VQA (OUT/<split>/grounding) to an existing make-data folder")
    md.add_argument("--out", required=True, help="output folder (train/ and val/ inside)")
    md.add_argument("--seed", type=int_range(0), default=0)
    md.add_argument("--cameras", type=names_from(SIM_CAMERAS), default=("front",),
                    help=f"comma-separated sim cameras ({', '.join(SIM_CAMERAS)})")
    md.add_argument("--image-size", type=int_range(16, 1024), default=128, help="square render size in pixels")
    md.add_argument("--families", type=names_from(FAMILIES), default=("touch",),
                    help=f"comma-separated task families ({', '.join(FAMILIES)})")
    md.add_argument("--horizon", type=int_range(1, 256), default=16, help="expert chunk length (steps of 0.1 s)")
    md.set_defaults(func=_make_data)

    sft = sub.add_parser("sft", help="stage 1: SFT on FAST action tokens + VQA (TRL SFTTrainer)")
    add_config_args(sft, "configs/sft_tiny.yaml", "train.max_steps=20")
    sft.set_defaults(func=_sft)

    # Stage 2 (`train align`) registers its parser here, on `sub`.
    from roboalign.training import align_cli  # stage 2: `train align`

    align_cli.register(sub)
    # Stage 3 (`train head`) registers its parser here too.
    from roboalign.training import head_cli  # stage 3: `train head`

    head_cli.register(sub)

    pl = sub.add_parser("plan", help="a full-size run's parameters and memory per GPU (meta device: no weights)")
    add_config_args(pl, "configs/sft_qwen2_5_vl_3b.yaml", "train.per_device_train_batch_size=4")
    pl.add_argument("--gpus", type=int_range(1, 4096), default=8, help="GPUs the run shards over (default 8)")
    pl.add_argument("--model", default=None, help="full-size model name (default: read from the config)")
    pl.add_argument("--seq-len", type=int_range(1, 1 << 20), default=None,
                    help="tokens per sample for the activation estimate (default: 512 stage 1, 256 + completion "
                         "stage 2, 256 stage 3)")
    pl.add_argument("--json", type=Path, default=None, help="also write the report here")
    pl.set_defaults(func=_plan)
    train.set_defaults(func=lambda _a: (train.print_help(), 2)[1])
