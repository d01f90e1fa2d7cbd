"""Spatial-grounding VQA from the simulator: where things are, which is nearer, what changed.

Stage 1's first VQA set (sim_data.vqa_for_state) asks coarse questions (closest block,
left/right, gripper open). A tiny backbone trained on them plus actions located the named block
only to ~5 cm (docs/stage3.md), too coarse to touch it. These questions make the backbone say
*where* the named object is, as the paper's embodied VQA (spatial QA, pointing) does:

    locate_table  "Where is the red block on the table?"       -> "x 42 y -10"
                  block centre in the arm base frame, cm (x forward, y left), rounded
    locate_image  "Where is the red block in the front image?" -> "u 45 v 62"
                  block centre projected into the camera image, percent of width/height
    nearer        "Which is nearer to the gripper, the red block or the blue block?" -> "the red block"
                  3-D distance from the tool centre point; pairs within 2 cm skipped
    changed       two images, "before" then "after" (0.5-1.5 s later along the expert's
                  rollout): "What changed between the two images?"
                  -> "the gripper moved towards the red block" (the block whose distance to
                  the tool centre point shrank most) | "nothing moved" (tool moved < 2 cm)

Every answer comes from MuJoCo state, never from pixels. Written by
`roboalign train make-data --grounding-per-episode N` to OUT/<split>/grounding/vqa.jsonl (same
JSONL layout as training/vqa.py), and mixed into stage 1 as one more `kind: vqa` source.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from roboalign.training.vqa import write_jsonl

NEARER_MIN_GAP_M = 0.02  # pairs whose distances differ by less are ambiguous
MOVED_MIN_M = 0.02  # tool-centre displacement below which "nothing moved"
CHANGE_DELAY_S = (0.5, 1.5)  # before -> after along the expert's rollout


def table_answer(xy: np.ndarray) -> str:
    """Block centre (m, arm base frame) -> "x 42 y -10" (cm, rounded)."""
    return f"x {int(round(100 * float(xy[0])))} y {int(round(100 * float(xy[1])))}"


def parse_table_answer(text: str) -> np.ndarray | None:
    """Inverse of table_answer (m); None if the text is not of that form."""
    parts = text.strip().split()
    if len(parts) != 4 or parts[0] != "x" or parts[2] != "y":
        return None
    try:
        return np.array([int(parts[1]), int(parts[3])], dtype=np.float64) / 100.0
    except ValueError:
        return None


def image_answer(uv: np.ndarray, size: tuple[int, int]) -> str:
    """Pixel (u, v) in an image of size (h, w) -> "u 45 v 62" (percent of width, height)."""
    h, w = size
    u = int(np.clip(round(100 * float(uv[0]) / w), 0, 99))
    v = int(np.clip(round(100 * float(uv[1]) / h), 0, 99))
    return f"u {u} v {v}"


def grounding_for_state(arm, camera: str, rng: np.random.Generator) -> list[dict]:
    """locate_table / locate_image for every block and one `nearer` pair, for the arm's state."""
    from roboalign.sim import tasks
    from roboalign.training.sim_data import project_to_image

    blocks = {n: p for n, p in arm.object_positions().items() if n in tasks.OBJECT_NAMES}
    names = sorted(blocks)
    colour = {n: n.split("_")[0] for n in names}
    uv = dict(zip(names, project_to_image(arm, camera, np.stack([blocks[n] for n in names]))))
    out = []
    for n in names:
        out.append({"type": "locate_table", "question": f"Where is the {colour[n]} block on the table?",
                    "answer": table_answer(blocks[n][:2])})
        out.append({"type": "locate_image", "question": f"Where is the {colour[n]} block in the {camera} image?",
                    "answer": image_answer(uv[n], arm.render_size)})
    tcp = arm.tcp_position()
    dist = {n: float(np.linalg.norm(blocks[n] - tcp)) for n in names}
    pairs = [(a, b) for a in names for b in names if a != b]
    for k in rng.permutation(len(pairs)):
        a, b = pairs[k]
        if abs(dist[a] - dist[b]) >= NEARER_MIN_GAP_M:
            out.append({"type": "nearer",
                        "question": f"Which is nearer to the gripper, the {colour[a]} block or the {colour[b]} block?",
                        "answer": f"the {colour[min((a, b), key=dist.get)]} block"})
            break
    return out


def change_answer(tcp_before: np.ndarray, tcp_after: np.ndarray, blocks: dict[str, np.ndarray]) -> str:
    """What changed between two states of a touch scene (blocks do not move when touched)."""
    if float(np.linalg.norm(tcp_after - tcp_before)) < MOVED_MIN_M:
        return "nothing moved"
    gain = {n: float(np.linalg.norm(p - tcp_before) - np.linalg.norm(p - tcp_after)) for n, p in blocks.items()}
    best = max(gain, key=gain.get)
    return f"the gripper moved towards the {best.split('_')[0]} block"


def make_grounding_vqa(out: Path, seeds: list[int], cfg) -> dict:
    """Grounding scenes for `seeds` into out/grounding (images/*.png + vqa.jsonl); cfg: SimDataConfig."""
    from roboalign.sim import tasks
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert
    from roboalign.training.sim_data import _save_png

    root = out / "grounding"
    (root / "images").mkdir(parents=True, exist_ok=True)
    expert = ScriptedExpert(horizon=cfg.horizon, cameras=cfg.cameras, image_size=cfg.image_size)
    arm = SimArm(render_size=cfg.image_size, cameras=())
    rng = np.random.default_rng(cfg.seed + 7 * len(seeds) + 1)
    cam = cfg.cameras[0]
    rows, t0 = [], time.perf_counter()
    try:
        for n, seed in enumerate(seeds):
            family = cfg.families[n % len(cfg.families)]
            stop = float(rng.uniform(0.0, 2.5))
            later = stop + float(rng.uniform(*CHANGE_DELAY_S))
            run_sim_episode(arm, expert, seed, task=family, max_seconds=max(stop, 0.02), stop_on_success=False)
            before = f"images/{n:06d}_before.png"
            _save_png(arm.render(cam), root / before)
            tcp_before = arm.tcp_position()
            src = f"seed {seed}, t={stop:.2f} s"
            for qa in grounding_for_state(arm, cam, rng):
                rows.append({"images": [before], "cameras": [cam], **qa, "source": src})
            # The same seeded rollout, stopped later: the sim and the expert are deterministic.
            run_sim_episode(arm, expert, seed, task=family, max_seconds=later, stop_on_success=False)
            after = f"images/{n:06d}_after.png"
            _save_png(arm.render(cam), root / after)
            blocks = {k: p for k, p in arm.object_positions().items() if k in tasks.OBJECT_NAMES}
            rows.append({"images": [before, after], "cameras": ["before", "after"], "type": "changed",
                         "question": "What changed between the two images?",
                         "answer": change_answer(tcp_before, arm.tcp_position(), blocks),
                         "source": f"seed {seed}, t={stop:.2f} -> {later:.2f} s"})
    finally:
        arm.close()
    write_jsonl(root / "vqa.jsonl", rows)
    return {"grounding_scenes": len(seeds), "grounding_questions": len(rows),
            "grounding_seconds": round(time.perf_counter() - t0, 1)}
