"""`roboalign sim ...`: expert demonstrations and a quick look at the scene.

  roboalign sim demos --episodes N --seed S --out DIR [--family touch|push] [--cameras front,wrist]
      N scripted-expert episodes (seeds S..S+N-1) saved as DIR/episode_<seed>/ plus
      DIR/summary.json (success rate, timings). Failed episodes are skipped unless --keep-failed.
  roboalign sim show --seed S --out DIR [--family F] [--rollout]
      PNG of every camera after reset; with --rollout also a contact sheet of the expert episode.

Heavy imports (mujoco) happen inside the commands, so `roboalign --help` stays instant.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser("sim", help="MuJoCo sim arm: expert demos, scene snapshots")
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    sim.set_defaults(func=lambda args: (sim.print_help(), 2)[1])

    demos = sub.add_parser("demos", help="record scripted-expert demonstration episodes")
    demos.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    demos.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed+i")
    demos.add_argument("--out", type=Path, required=True, help="output folder")
    _common(demos)
    demos.add_argument("--max-seconds", type=float, default=12.0, help="episode time limit (sim s)")
    demos.add_argument("--keep-failed", action="store_true", help="also save episodes that failed")
    demos.set_defaults(func=_demos)

    show = sub.add_parser("show", help="write PNG snapshots of the cameras")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--out", type=Path, default=Path("sim_show"))
    _common(show)
    show.add_argument("--rollout", action="store_true", help="also run the expert and write a contact sheet")
    show.set_defaults(func=_show)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", default="touch", choices=("touch", "push"), help="task family (default touch)")
    p.add_argument("--task", default=None, help="a full instruction instead, e.g. 'touch the red block'")
    p.add_argument("--cameras", default="front,wrist", help="comma-separated cameras (default front,wrist)")
    p.add_argument("--size", type=int, default=128, help="square image size in pixels (default 128)")


def _cameras(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def _demos(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.sim.arm import SimArm
    from roboalign.sim.expert import ScriptedExpert
    from roboalign.sim.rollout import run_episode

    if args.episodes < 1:
        print("--episodes must be at least 1", file=sys.stderr)
        return 2
    cams = _cameras(args.cameras)
    size = (args.size, args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    arm = SimArm(render_size=size, cameras=cams, task_family=args.family)
    expert = ScriptedExpert(cameras=cams, image_size=size)
    results = []
    wall0 = time.perf_counter()
    try:
        bar = tqdm(range(args.seed, args.seed + args.episodes), unit="ep", desc=f"sim demos ({args.family})")
        for seed in bar:
            r = run_episode(arm, expert, seed, max_seconds=args.max_seconds, task=args.task, record=True)
            saved = None
            if r.success or args.keep_failed:
                saved = str(r.episode.save(args.out / f"episode_{seed:06d}", overwrite=True))
            results.append({**r.summary(), "path": saved})
            bar.set_postfix(success=f"{sum(x['success'] for x in results)}/{len(results)}")
    finally:
        arm.close()
    n_ok = sum(r["success"] for r in results)
    summary = {
        "family": args.family,
        "task": args.task,
        "episodes": len(results),
        "successes": n_ok,
        "success_rate": n_ok / len(results),
        "saved": sum(r["path"] is not None for r in results),
        "seed": args.seed,
        "cameras": list(cams),
        "image_size": list(size),
        "mean_episode_sim_s": float(np.mean([r["duration_s"] for r in results])),
        "mean_episode_wall_s": float(np.mean([r["wall_s"] for r in results])),
        "wall_s": round(time.perf_counter() - wall0, 3),
        "per_episode": results,
    }
    tmp = args.out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(args.out / "summary.json")
    print(
        f"{n_ok}/{len(results)} successful ({100 * summary['success_rate']:.0f}%), "
        f"{summary['saved']} saved to {args.out}, {summary['wall_s']:.1f} s"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    from roboalign.sim.arm import SimArm
    from roboalign.sim.expert import ScriptedExpert
    from roboalign.sim.rollout import run_episode

    cams = _cameras(args.cameras)
    args.out.mkdir(parents=True, exist_ok=True)
    with SimArm(render_size=(args.size, args.size), cameras=cams, task_family=args.family) as arm:
        info = arm.reset(args.seed, args.task)
        for cam in cams:
            write_png(args.out / f"{cam}.png", arm.render(cam))
        print(f"seed {args.seed}: {info.instruction!r}; wrote {', '.join(c + '.png' for c in cams)} to {args.out}")
        if args.rollout:
            r = run_episode(arm, ScriptedExpert(), args.seed, task=args.task, record=True)
            ep = r.episode
            idx = np.linspace(0, len(ep) - 1, num=min(8, len(ep))).round().astype(int)
            rows = [np.concatenate([ep.images[c][i] for i in idx], axis=1) for c in cams]
            write_png(args.out / "rollout.png", np.concatenate(rows, axis=0))
            print(f"expert {'succeeded' if r.success else 'FAILED'} in {r.duration:.2f} s; wrote rollout.png")
    return 0


def write_png(path: Path, image: np.ndarray) -> None:
    """Minimal PNG writer (RGB8), so snapshots need no imaging library."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)
