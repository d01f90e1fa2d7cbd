"""The `roboalign rollout` summary: success rate, latency percentiles, safety interventions.

Pure (numpy only, no rclpy), so it is tested without ROS and reused by anything that reports
rollouts in the same shape.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# command->controller: the controller bridge of the real-robot graph (command made -> forwarded);
# server_infer: the policy call on the server; server_roundtrip: the policy node's request -> reply.
STAGES = ("server_infer", "server_roundtrip", "observation->chunk", "command->controller", "command->arm")
# What a person reads in the printed summary (the JSON keeps the stage names).
STAGE_LABELS = {
    "server_infer": "server inference",
    "server_roundtrip": "server round trip",
    "observation->chunk": "observation -> command chunk",
    "command->controller": "command -> controller",
    "command->arm": "command -> arm",
}
INTERVENTIONS = ("limited", "clamped", "workspace", "rejected", "hold", "estopped", "watchdog_trips")


def percentiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    import numpy as np

    if not samples:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None, "n": 0}
    x = np.asarray(samples, dtype=np.float64)
    p50, p95, p99 = (round(float(v), 3) for v in np.percentile(x, [50, 95, 99]))
    return {"p50": p50, "p95": p95, "p99": p99, "mean": round(float(x.mean()), 3),
            "max": round(float(x.max()), 3), "n": int(x.size)}


def summarize(episodes: list[dict[str, Any]], latency_samples: dict[str, list[float]], wall_s: float,
              policy: str, domain_id: int) -> dict[str, Any]:
    successes = sum(1 for e in episodes if e["success"])
    totals = {k: sum(int(e["safety"].get(k, 0)) for e in episodes) for k in INTERVENTIONS}
    return {
        "policy": policy,
        "episodes": len(episodes),
        "successes": successes,
        "success_rate": successes / len(episodes) if episodes else 0.0,
        "latency_ms": {stage: percentiles(latency_samples.get(stage, [])) for stage in STAGES},
        "safety_interventions": totals,
        "max_safety_correction_rad": max((e["max_correction_rad"] for e in episodes), default=0.0),
        "wall_s": round(wall_s, 2),
        "ros_domain_id": domain_id,
        "per_episode": episodes,
    }


def format_summary(s: dict[str, Any]) -> str:
    """A short block a person reads: outcome, per-episode seeds that failed, latency, safety."""
    lines = [f"rollout (sim, policy {s['policy']}): {s['successes']}/{s['episodes']} succeeded "
             f"({100 * s['success_rate']:.0f} %) in {s['wall_s']:.1f} s"]
    failed = [str(e["seed"]) for e in s.get("per_episode", []) if not e.get("success")]
    if failed:
        lines.append(f"  failed seeds: {', '.join(failed)}")
    measured = {stage: p for stage, p in s["latency_ms"].items() if p["n"]}
    if measured:
        lines.append(f"  {'latency (ms)':<30} {'p50':>8} {'p95':>8} {'p99':>8} {'n':>6}")
        for stage, p in measured.items():
            lines.append(f"  {STAGE_LABELS.get(stage, stage):<30} {p['p50']:8.2f} {p['p95']:8.2f} "
                         f"{p['p99']:8.2f} {p['n']:6d}")
    iv = s["safety_interventions"]
    lines.append("  safety filter: " + ", ".join(f"{k} {v}" for k, v in iv.items())
                 + f"; largest correction {s['max_safety_correction_rad']:.3f} rad")
    return "\n".join(lines)
