"""Which part of the `colour_lighting` suite's shift breaks a policy: one factor at a time.

The suite changes block tints, table colour, the key light (intensity, tint, direction) and the
headlight together (roboalign.eval.suites). This applies only one of them, drawn exactly as the
suite draws it for the same seed, and reports success per factor on the same seeds:

  blocks       block colour gain and shift
  table        table colour
  light_dir    key light direction (the shadows move)
  light_level  key light intensity and tint, headlight
  light        light_dir + light_level

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/eval/colour_factors.py \
        --policy models/roboalign-sim-touch-tiny --episodes 12 --seed 10000 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from roboalign.eval.scene import EvalArm
from roboalign.eval.sim_eval import seed_everything
from roboalign.policy.registry import load_policy
from roboalign.sim import tasks
from roboalign.sim.episodes import run_sim_episode

FACTORS = ("blocks", "table", "light_dir", "light_level", "light")


class OneFactor(EvalArm):
    """The colour_lighting suite with only `factor` of its appearance applied."""

    def __init__(self, factor: str, **kwargs) -> None:
        self.factor = factor
        super().__init__("colour_lighting", **kwargs)

    def _apply_appearance(self, a) -> None:
        m, look = self.model, self._look
        if self.factor == "blocks":
            for c in tasks.COLOURS:
                mid = m.material(c).id
                m.mat_rgba[mid, :3] = np.clip(look.mat_rgba[mid, :3] * a.block_gain[c] + np.asarray(a.block_shift[c]), 0, 1)
        if self.factor == "table":
            m.mat_rgba[m.material("table").id, :3] = a.table_rgb
        key = m.light("key").id
        if self.factor in ("light_dir", "light"):
            m.light_dir[key] = a.light_dir
        if self.factor in ("light_level", "light"):
            m.light_diffuse[key] = np.clip(look.light_diffuse[key] * a.light_gain * np.asarray(a.light_tint), 0, 1)
            m.vis.headlight.ambient[:] = np.clip(look.head_ambient * a.headlight_gain, 0, 1)
            m.vis.headlight.diffuse[:] = np.clip(look.head_diffuse * a.headlight_gain, 0, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", default="models/roboalign-sim-touch-tiny")
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--seed", type=int, default=10000)
    p.add_argument("--factors", default=",".join(FACTORS))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    policy = load_policy(args.policy)
    meta = policy.metadata()
    size = tuple(meta.get("image_size") or (128, 128))
    out = {"policy": args.policy, "seeds": [args.seed, args.seed + args.episodes - 1], "factors": {}}
    for factor in args.factors.split(","):
        wall0 = time.perf_counter()
        with OneFactor(factor, render_size=size, cameras=tuple(meta.get("cameras") or ("front",))) as arm:
            rows = []
            for seed in range(args.seed, args.seed + args.episodes):
                seed_everything(seed)
                r = run_sim_episode(arm, policy, seed)
                rows.append({"seed": seed, "success": r.success, "wrong_object": arm.wrong_object,
                             "table": arm.variant.appearance.table})
        ok = sum(r["success"] for r in rows)
        out["factors"][factor] = {"successes": ok, "episodes": len(rows), "wall_s": round(time.perf_counter() - wall0, 1),
                                  "episodes_detail": rows}
        print(f"{factor:12s} {ok}/{len(rows)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
