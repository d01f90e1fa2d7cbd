"""Stage-1 training data from the simulator: expert demonstrations + embodied VQA.

    roboalign train make-data --episodes 200 --val-episodes 30 --out outputs/sim_data

writes, for each split (train, val):

    OUT/<split>/episodes/ep_<seed>/        Episode folders (episode.json + arrays.npz), recorded
                                           from the scripted expert every `record_period` s,
                                           run through the control loop (executor + safety
                                           filter: roboalign.sim.episodes.run_sim_episode)
    OUT/<split>/vqa/images/<n>_<cam>.png   rendered views
    OUT/<split>/vqa/vqa.jsonl              questions answered from privileged sim state
    OUT/manifest.json                      seeds, counts, expert success rate, settings

VQA questions (answers computed from MuJoCo state, never from pixels):
    closest_block  "Which block is closest to the gripper?"   -> "the red block"
                   (3-D distance from the tool centre point to each block centre)
    left_right     "Is the red block left or right of the blue block?" -> "left" | "right"
                   (as seen in the first camera's image: block centres projected with the
                   camera's pose and field of view; pairs closer than 4% of the image width
                   are skipped as ambiguous)
    gripper_open   "Is the gripper open?" -> "yes" | "no"  (gripper command state < 0.5)
VQA states come from separate seeded rollouts of the expert stopped at a random time, so the
arm is seen anywhere between its home pose and the goal.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from roboalign.training.vqa import write_jsonl

LEFT_RIGHT_MIN_FRACTION = 0.04  # of the image width
VAL_SEED_OFFSET = 1_000_000
VQA_SEED_OFFSET = 2_000_000
GROUNDING_SEED_OFFSET = 3_000_000


@dataclasses.dataclass(frozen=True)
class SimDataConfig:
    episodes: int = 100
    val_episodes: int = 20
    vqa_states_per_episode: float = 0.5  # VQA scenes per demonstration (3 questions each)
    grounding_per_episode: float = 0.0  # grounding scenes per demonstration (8 questions each; training/grounding.py)
    seed: int = 0
    cameras: tuple[str, ...] = ("front",)
    image_size: tuple[int, int] = (128, 128)
    families: tuple[str, ...] = ("touch",)
    horizon: int = 16
    record_period: float = 0.1  # s between recorded steps (the actions' dt)
    max_seconds: float = 12.0


def project_to_image(arm, camera: str, points: np.ndarray) -> np.ndarray:
    """World points [N, 3] (m) -> pixel (u, v) [N, 2] in `camera`'s render (u right, v down).

    MuJoCo cameras look along their local -z with x right and y up; fovy is vertical (degrees).
    """
    cid = arm.model.camera(camera).id
    pos = arm.data.cam_xpos[cid]
    rot = arm.data.cam_xmat[cid].reshape(3, 3)  # columns: camera x, y, z in world
    local = (np.asarray(points, dtype=np.float64) - pos) @ rot
    h, w = arm.render_size
    f = 0.5 * h / np.tan(np.deg2rad(arm.model.cam_fovy[cid]) / 2)
    depth = -local[:, 2]
    return np.stack([w / 2 + f * local[:, 0] / depth, h / 2 - f * local[:, 1] / depth], axis=1)


def vqa_for_state(arm, camera: str, rng: np.random.Generator) -> list[dict]:
    """Question/answer dicts for the arm's current state (see module docstring)."""
    from roboalign.sim import tasks

    tcp = arm.tcp_position()
    blocks = {n: p for n, p in arm.object_positions().items() if n in tasks.OBJECT_NAMES}
    names = sorted(blocks)
    colour = {n: n.split("_")[0] for n in names}
    out = []
    closest = min(names, key=lambda n: float(np.linalg.norm(blocks[n] - tcp)))
    out.append({"type": "closest_block", "question": "Which block is closest to the gripper?",
                "answer": f"the {colour[closest]} block"})
    u = dict(zip(names, project_to_image(arm, camera, np.stack([blocks[n] for n in names]))[:, 0]))
    min_px = LEFT_RIGHT_MIN_FRACTION * arm.render_size[1]
    pairs = [(a, b) for a in names for b in names if a != b]
    for k in rng.permutation(len(pairs)):
        a, b = pairs[k]
        along = float(u[a] - u[b])
        if abs(along) >= min_px:
            out.append({"type": "left_right",
                        "question": f"Is the {colour[a]} block left or right of the {colour[b]} block?",
                        "answer": "right" if along > 0 else "left"})
            break
    gripper = float(arm.joint_positions()[-1])
    out.append({"type": "gripper_open", "question": "Is the gripper open?", "answer": "yes" if gripper < 0.5 else "no"})
    return out


def _save_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(img).save(path)


def make_episodes(out: Path, seeds: list[int], cfg: SimDataConfig, progress: Callable[[str], None] = print) -> dict:
    """Expert demonstrations for `seeds` into out/episodes/ep_<seed>."""
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    (out / "episodes").mkdir(parents=True, exist_ok=True)
    expert = ScriptedExpert(horizon=cfg.horizon, cameras=cfg.cameras, image_size=cfg.image_size)
    arm = SimArm(render_size=cfg.image_size, cameras=cfg.cameras)
    successes, frames = 0, 0
    t0 = time.perf_counter()
    try:
        for n, seed in enumerate(seeds):
            family = cfg.families[n % len(cfg.families)]
            res = run_sim_episode(arm, expert, seed, task=family, max_seconds=cfg.max_seconds, record=True,
                                  record_period=cfg.record_period)
            res.episode.save(out / "episodes" / f"ep_{seed:07d}", overwrite=True)
            successes += int(res.success)
            frames += len(res.episode)
            if (n + 1) % 25 == 0 or n + 1 == len(seeds):
                progress(f"  {out.name}: {n + 1}/{len(seeds)} episodes, {successes} successful, "
                         f"{time.perf_counter() - t0:.0f} s")
    finally:
        arm.close()
    return {"episodes": len(seeds), "successful": successes, "frames": frames,
            "seconds": round(time.perf_counter() - t0, 1)}


def make_vqa(out: Path, seeds: list[int], cfg: SimDataConfig) -> dict:
    """VQA scenes for `seeds` into out/vqa (images/*.png + vqa.jsonl)."""
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    (out / "vqa" / "images").mkdir(parents=True, exist_ok=True)
    expert = ScriptedExpert(horizon=cfg.horizon, cameras=cfg.cameras, image_size=cfg.image_size)
    # A render-free arm for the rollouts (fast); only the final state is rendered.
    arm = SimArm(render_size=cfg.image_size, cameras=())
    rng = np.random.default_rng(cfg.seed + len(seeds))
    rows = []
    t0 = time.perf_counter()
    try:
        for n, seed in enumerate(seeds):
            family = cfg.families[n % len(cfg.families)]
            stop = float(rng.uniform(0.0, 2.5))
            run_sim_episode(arm, expert, seed, task=family, max_seconds=max(stop, 0.02), stop_on_success=False)
            paths = []
            for cam in cfg.cameras:
                rel = f"images/{n:06d}_{cam}.png"
                _save_png(arm.render(cam), out / "vqa" / rel)
                paths.append(rel)
            for qa in vqa_for_state(arm, cfg.cameras[0], rng):
                rows.append({"images": paths, "cameras": list(cfg.cameras), **qa,
                             "source": f"seed {seed}, t={stop:.2f} s"})
    finally:
        arm.close()
    write_jsonl(out / "vqa" / "vqa.jsonl", rows)
    return {"vqa_scenes": len(seeds), "vqa_questions": len(rows), "vqa_seconds": round(time.perf_counter() - t0, 1)}


def make_split(out: Path, seeds: list[int], vqa_seeds: list[int], cfg: SimDataConfig,
               progress: Callable[[str], None] = print) -> dict:
    """Demonstrations for `seeds` and VQA scenes for `vqa_seeds` into `out` (one split)."""
    return {**make_episodes(out, seeds, cfg, progress), **make_vqa(out, vqa_seeds, cfg)}


def make_sim_data(out: str | Path, cfg: SimDataConfig, progress: Callable[[str], None] = print) -> dict:
    """Both splits and the manifest; returns the manifest dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_vqa = int(round(cfg.episodes * cfg.vqa_states_per_episode))
    n_vqa_val = int(round(cfg.val_episodes * cfg.vqa_states_per_episode))
    train_seeds = [cfg.seed + i for i in range(cfg.episodes)]
    val_seeds = [cfg.seed + VAL_SEED_OFFSET + i for i in range(cfg.val_episodes)]
    manifest = {"config": {**dataclasses.asdict(cfg)}, "splits": {}}
    manifest["splits"]["train"] = make_split(out / "train", train_seeds,
                                             [cfg.seed + VQA_SEED_OFFSET + i for i in range(n_vqa)], cfg, progress)
    if cfg.val_episodes:
        manifest["splits"]["val"] = make_split(
            out / "val", val_seeds, [cfg.seed + VAL_SEED_OFFSET + VQA_SEED_OFFSET + i for i in range(n_vqa_val)],
            cfg, progress)
    if cfg.grounding_per_episode:
        add_grounding(out, cfg, manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def add_grounding(out: Path, cfg: SimDataConfig, manifest: dict | None = None) -> dict:
    """Spatial-grounding VQA (training/grounding.py) for both splits of `out`, own seeds."""
    from roboalign.training.grounding import make_grounding_vqa

    manifest = manifest if manifest is not None else {"splits": {}}
    for split, n_eps, base in (("train", cfg.episodes, 0), ("val", cfg.val_episodes, VAL_SEED_OFFSET)):
        n = int(round(n_eps * cfg.grounding_per_episode))
        if n:
            seeds = [cfg.seed + base + GROUNDING_SEED_OFFSET + i for i in range(n)]
            manifest["splits"].setdefault(split, {}).update(make_grounding_vqa(Path(out) / split, seeds, cfg))
    return manifest
