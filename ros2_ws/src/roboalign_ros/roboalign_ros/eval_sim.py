"""`roboalign eval sim --ros`: the evaluation suites through the ROS 2 graph.

    records, stages = run_suites(cfg, on_record)   # cfg: roboalign.eval.sim_eval.SimEvalConfig

The same episodes as the direct loop (roboalign.eval.sim_eval.run_suites), played as
`roboalign rollout --sim` plays them: the inference server in its own process, the graph of
config/rollout_sim.yaml in this one (sim -> policy -> executor -> safety -> sim), one graph per
suite with the sim node's `eval_suite` parameter set, so each reset builds the suite's variant of
the episode seed (the same scene the direct loop builds). Each episode becomes the direct loop's
EpisodeRecord, so report.md, summary.json and `eval compare` read it unchanged:

  success, wrong object, sub-goals, closest approach, variant   the sim node's EvalArm (in process)
  sim_s, wall_s                                                 the arm's clock, the episode's wall time
  policy calls / errors, refusals                               the policy node's counters (errors
                                                                include request timeouts)
  infer_ms                                                      server_infer: the policy call on the server
  safety counts, largest correction                             the safety node (filter states per tick)
  steps                                                         safety-filter ticks (50 Hz)

Differences from the direct loop, by construction: the graph runs in real time, so an episode's
limit is wall seconds (as `rollout`; sim time lags wall time when the cores are saturated), and
the policy call is asynchronous (the arm holds until the first chunk arrives: each episode starts
with `hold` ticks, which are therefore not counted as a safety stop here; estop, rejected, watchdog
and workspace still are). Global RNGs are seeded per episode in this process only; the server's
are not, so a sampling policy is not reproducible bit for bit. No videos or contact sheets.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from roboalign.eval import stats
from roboalign.eval.sim_eval import SAFETY_KEYS, EpisodeRecord, SimEvalConfig, failure_category, seed_everything
from roboalign.eval.suites import SUITES

GRAPH_STOPS = ("estopped", "rejected", "watchdog_trips", "workspace")  # SAFETY_STOPS less the start-up hold
STATES = ("ok", "limited", "clamped", "workspace", "rejected", "hold", "estopped")


def run_suites(cfg: SimEvalConfig, on_record: Callable[[EpisodeRecord], None] | None = None,
               domain_id: int | None = None) -> tuple[list[EpisodeRecord], dict[str, list[float]]]:
    """Every (suite, seed) episode of `cfg` through the graph; returns the records (sorted as the
    direct loop sorts them) and every latency sample per graph stage (ms)."""
    from roboalign_ros.graph import load_graph
    from roboalign_ros.rollout_cli import _start_server, domain_id_from, sigterm_as_interrupt

    unknown = [s for s in cfg.suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}: choose from {', '.join(SUITES)}")
    domain = domain_id_from(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    graph = load_graph()
    records: list[EpisodeRecord] = []
    stages: dict[str, list[float]] = {}
    with sigterm_as_interrupt(), _start_server(cfg.policy) as server:
        for suite in cfg.suites:
            overrides = {"policy": {"endpoint": server.endpoint}, "sim": {"eval_suite": suite}}
            for stage, samples in _run_suite(graph, overrides, domain, cfg, suite, records, on_record).items():
                stages.setdefault(stage, []).extend(samples)
    order = {s: i for i, s in enumerate(SUITES)}
    return sorted(records, key=lambda r: (order[r.suite], r.seed)), stages


def _run_suite(graph, overrides, domain: int, cfg: SimEvalConfig, suite: str, records: list[EpisodeRecord],
               on_record) -> dict[str, list[float]]:
    from roboalign.errors import RoboAlignError
    from roboalign_ros.runner import GraphRunner
    from roboalign_ros.sim_episodes import SimEpisodes

    with GraphRunner(graph, overrides=overrides, domain_id=domain, log_level="warn") as runner:
        episodes = SimEpisodes(runner)
        episodes.wait_ready()
        for i in range(cfg.episodes):
            seed = cfg.seed + i
            seed_everything(seed)
            record = _episode(episodes, suite, seed, cfg.max_seconds)
            records.append(record)
            if on_record:
                on_record(record)
        if runner.errors:
            last = runner.errors[0].strip().splitlines()[-1]
            raise RoboAlignError(f"{len(runner.errors)} node callback(s) raised in suite {suite}; first: {last}")
        return episodes.latency_ms()


def _episode(episodes, suite: str, seed: int, max_seconds: float) -> EpisodeRecord:
    policy, sim = episodes.policy, episodes.sim
    calls0 = len(policy.latency_ms["server_infer"])
    outcome = episodes.run(seed, max_seconds=max_seconds)
    with sim._lock:  # the physics timer keeps stepping: read the arm's episode state in one go
        arm = sim.arm
        v = arm.variant
        wrong, done, closest, sim_s = arm.wrong_object, arm.steps_done, arm.closest_m, float(arm.data.time)
        instruction = arm.task.instruction
    infer = [float(x) for x in list(policy.latency_ms["server_infer"])[calls0:]]
    safety = {k: int(outcome.safety.get(k, 0)) for k in ("ok", *SAFETY_KEYS)}
    errors = int(outcome.policy.get("errors", 0)) + int(outcome.policy.get("timeouts", 0))
    stops = {k: safety[k] for k in GRAPH_STOPS}
    return EpisodeRecord(
        suite=suite, seed=seed, family=v.family, instruction=instruction, targets=list(v.targets),
        condition=v.condition, success=outcome.success,
        failure=failure_category(outcome.success, errors, wrong, stops),
        wrong_object=wrong, steps_done=done, closest_mm=round(1000 * closest, 1),
        steps=sum(safety[k] for k in STATES), sim_s=round(sim_s, 3), wall_s=round(outcome.duration_s, 3),
        policy_calls=int(outcome.policy.get("calls", 0)), policy_errors=errors,
        first_error=(policy.connect_error or "") if errors else "",
        infer_ms={**stats.percentiles(infer), "max": round(max(infer, default=0.0), 3),
                  "mean": round(sum(infer) / len(infer), 3) if infer else 0.0},
        infer_all_ms=[round(x, 3) for x in infer],
        safety=safety, max_correction_rad=round(outcome.max_correction_rad, 4),
        refusals={k: int(n) for k, n in outcome.policy.items() if k.startswith("skipped_") and n},
        variant=v.to_dict(),
    )


def stage_percentiles(stages: dict[str, list[float]]) -> dict[str, Any]:
    """Per graph stage: p50/p95/p99/mean/max/n (ms), as `roboalign rollout` reports them."""
    from roboalign_ros.rollout_summary import STAGES, percentiles

    return {stage: percentiles(stages.get(stage, [])) for stage in STAGES if stages.get(stage)}


def run(cfg: SimEvalConfig, on_record: Callable[[EpisodeRecord], None] | None = None) -> tuple[list, dict]:
    """The hook `roboalign eval sim --ros` calls: records and the graph's latency per stage."""
    t0 = time.perf_counter()
    records, stages = run_suites(cfg, on_record)
    return records, {"graph_latency_ms": stage_percentiles(stages), "graph_wall_s": round(time.perf_counter() - t0, 2)}
