"""`roboalign sim ...`: expert demonstrations, closed-loop success, a quick look at the scene.

  roboalign sim demos --episodes N --seed S --out DIR [--family touch|push] [--cameras front,wrist]
      N scripted-expert episodes (seeds S..S+N-1) saved as DIR/episode_<seed>/ plus
      DIR/summary.json (success rate, timings). Failed episodes are skipped unless --keep-failed.
  roboalign sim run --policy expert|CHECKPOINT --episodes N --seed S [--json FILE]
      N seeded episodes through the direct control loop (roboalign.control.loop: executor and
      safety filter, as the ROS graph runs them): success and safety counts, the same episode
      semantics and summary keys as `roboalign rollout --sim`.
  roboalign sim show --seed S --out DIR [--family F] [--rollout]
      PNG of every camera after reset; with --rollout also a contact sheet of the expert episode.

Every episode runs through roboalign.sim.episodes.run_sim_episode (the one control loop).
Heavy imports (mujoco, torch) happen inside the commands, so `roboalign --help` stays instant.
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

from roboalign.arguments import float_range, int_range, names_from
from roboalign.sim import tasks


def _task(text: str) -> str:
    """--task: a family name or an instruction naming one family and one colour."""
    try:
        tasks.parse_task(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser("sim", help="MuJoCo sim arm: expert demos, closed-loop runs, scene snapshots")
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    sim.set_defaults(func=lambda args: (sim.print_help(), 2)[1])

    demos = sub.add_parser("demos", help="record scripted-expert demonstration episodes")
    demos.add_argument("--episodes", type=int_range(1), default=10, help="number of episodes (default 10)")
    demos.add_argument("--seed", type=int_range(0), default=0, help="first seed; episode i uses seed+i")
    demos.add_argument("--out", type=Path, required=True, help="output folder")
    _common(demos)
    demos.add_argument("--max-seconds", type=float_range(0.0, 600.0, low_open=True), default=12.0,
                       help="episode time limit (sim s, default 12)")
    demos.add_argument("--keep-failed", action="store_true", help="also save episodes that failed")
    demos.set_defaults(func=_demos)

    run = sub.add_parser("run", help="closed-loop success of a policy through the direct control loop")
    run.add_argument("--policy", default="expert", help="expert or a checkpoint folder (default expert)")
    run.add_argument("--policy-arg", action="append", default=[], metavar="KEY=VALUE",
                     help="keyword argument for the policy loader, value parsed as YAML (repeatable), as "
                          "`roboalign serve`, e.g. --policy-arg backend=onnxruntime")
    run.add_argument("--episodes", type=int_range(1), default=20, help="number of episodes (default 20)")
    run.add_argument("--seed", type=int_range(0), default=0, help="first seed; episode i uses seed+i")
    run.add_argument("--max-seconds", type=float_range(0.0, 600.0, low_open=True), default=20.0,
                     help="episode time limit (sim s, default 20 as `roboalign rollout`)")
    run.add_argument("--family", default="touch", choices=tasks.FAMILIES, help="task family (default touch)")
    run.add_argument("--task", type=_task, default=None, help="a family or a full instruction instead")
    run.add_argument("--json", type=Path, default=None, help="write the summary here")
    run.set_defaults(func=_run)

    show = sub.add_parser("show", help="write PNG snapshots of the cameras")
    show.add_argument("--seed", type=int_range(0), default=0)
    show.add_argument("--out", type=Path, default=Path("sim_show"))
    _common(show)
    show.add_argument("--rollout", action="store_true", help="also run the expert and write a contact sheet")
    show.set_defaults(func=_show)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", default="touch", choices=tasks.FAMILIES, help="task family (default touch)")
    p.add_argument("--task", type=_task, default=None, help="a full instruction instead, e.g. 'touch the red block'")
    p.add_argument("--cameras", type=names_from(tasks.CAMERAS), default=tasks.CAMERAS,
                   help="comma-separated cameras (default front,wrist)")
    p.add_argument("--size", type=int_range(16, 2048), default=128, help="square image size in pixels (default 128)")


def _demos(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    cams = tuple(args.cameras)
    size = (args.size, args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    arm = SimArm(render_size=size, cameras=cams, task_family=args.family)
    expert = ScriptedExpert(cameras=cams, image_size=size)
    results = []
    wall0 = time.perf_counter()
    try:
        bar = tqdm(range(args.seed, args.seed + args.episodes), unit="ep", desc=f"sim demos ({args.family})")
        for seed in bar:
            r = run_sim_episode(arm, expert, seed, max_seconds=args.max_seconds, task=args.task, record=True)
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


def _run(args: argparse.Namespace) -> int:
    from roboalign.errors import UsageError
    from roboalign.policy.registry import PolicyLoadError, load_policy
    from roboalign.serving.cli import _policy_kwargs
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode, summarize, uses_privileged_state

    try:
        policy = load_policy(args.policy, **_policy_kwargs(args.policy_arg))
    except PolicyLoadError as exc:
        raise UsageError(f"--policy: {exc}") from None
    meta = policy.metadata()
    # The expert reads privileged state, not pixels: render nothing for it (fast, same result).
    cams = () if uses_privileged_state(policy) else tuple(meta.get("cameras") or ())
    size = tuple(meta.get("image_size") or (128, 128))
    results = []
    wall0 = time.perf_counter()
    with SimArm(render_size=size, cameras=cams, task_family=args.family) as arm:
        for i in range(args.episodes):
            r = run_sim_episode(arm, policy, args.seed + i, task=args.task, max_seconds=args.max_seconds)
            results.append(r)
            print(f"episode {i + 1}/{args.episodes} seed {r.seed}: {'success' if r.success else 'FAILED '} in "
                  f"{r.duration:5.2f} s (sim)  {r.task.instruction!r}", flush=True)
    summary = summarize(results, args.policy, time.perf_counter() - wall0)
    iv = summary["safety_interventions"]
    print(f"sim run (direct loop, policy {args.policy}): {summary['successes']}/{summary['episodes']} succeeded "
          f"({100 * summary['success_rate']:.0f} %) in {summary['wall_s']:.1f} s; mean infer "
          f"{summary['mean_infer_ms']:.1f} ms")
    print("  safety: " + ", ".join(f"{k} {v}" for k, v in iv.items())
          + f"; largest correction {summary['max_safety_correction_rad']:.3f} rad")
    if summary["policy_errors"]:
        print(f"  {summary['policy_errors']} policy call(s) raised; the arm held", file=sys.stderr)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    cams = tuple(args.cameras)
    args.out.mkdir(parents=True, exist_ok=True)
    with SimArm(render_size=(args.size, args.size), cameras=cams, task_family=args.family) as arm:
        info = arm.reset(args.seed, args.task)
        for cam in cams:
            write_png(args.out / f"{cam}.png", arm.render(cam))
        print(f"seed {args.seed}: {info.instruction!r}; wrote {', '.join(c + '.png' for c in cams)} to {args.out}")
        if args.rollout:
            r = run_sim_episode(arm, ScriptedExpert(), args.seed, task=args.task, max_seconds=12.0, record=True)
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
