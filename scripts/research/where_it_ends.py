"""Where a policy's failed touch episodes end: distance of the tool centre point to the named block
and to the nearest other block at the end of each episode (held-out seeds).

    python scripts/research/where_it_ends.py POLICY_DIR --episodes 10 --seed 10000 [--json OUT]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from roboalign.policy.registry import load_policy
from roboalign.sim import tasks
from roboalign.sim.arm import SimArm
from roboalign.sim.episodes import run_sim_episode


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("policy")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=10000)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    policy = load_policy(a.policy)
    meta = policy.metadata()
    rows = []
    with SimArm(render_size=tuple(meta.get("image_size") or (128, 128)), cameras=tuple(meta["cameras"])) as arm:
        for i in range(a.episodes):
            r = run_sim_episode(arm, policy, a.seed + i)
            tcp, pos = arm.tcp_position(), arm.object_positions()
            d = {n: float(np.linalg.norm(pos[n][:2] - tcp[:2])) for n in tasks.OBJECT_NAMES}
            nearest = min(d, key=d.get)
            rows.append({"seed": a.seed + i, "success": r.success, "target": r.task.target,
                         "xy_to_target_cm": round(100 * d[r.task.target], 1), "nearest": nearest,
                         "height_above_table_cm": round(100 * float(tcp[2]), 1)})
            print(rows[-1], flush=True)
    out = {"episodes": rows, "ended_nearest_target": sum(r["nearest"] == r["target"] for r in rows),
           "median_xy_to_target_cm": float(np.median([r["xy_to_target_cm"] for r in rows]))}
    print(json.dumps({k: v for k, v in out.items() if k != "episodes"}))
    if a.json:
        open(a.json, "w").write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
