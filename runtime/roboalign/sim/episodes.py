"""Seeded sim episodes through the one control loop (roboalign.control.loop).

The episode semantics of the ROS graph's roboalign_ros.sim_episodes, without ROS: reset the arm
to `seed` (task = the arm's family, or `task`), run the loop from there on simulated time for
at most `max_seconds`, stop as soon as the task succeeds (SimArm.success, latched), report
success with the loop's safety and executor counts. The scripted expert gets privileged sim
state, as `roboalign rollout --policy expert` gives it /sim/objects; a learned policy never.

    arm = SimArm(cameras=())                      # the expert needs no images
    result = run_sim_episode(arm, ScriptedExpert(), seed=3)
    result.success, result.loop.safety, result.summary()
"""
from __future__ import annotations

import dataclasses
from typing import Any

from roboalign.control.loop import ControlLoop, LoopConfig, LoopResult, Recorder, Tick
from roboalign.core.policy import Policy
from roboalign.data.episode import Episode
from roboalign.data.recorder import EpisodeRecorder
from roboalign.sim.arm import SimArm
from roboalign.sim.tasks import TaskInfo

DEFAULT_MAX_SECONDS = 20.0  # = `roboalign rollout --max-seconds` default


@dataclasses.dataclass
class SimEpisodeResult:
    seed: int
    task: TaskInfo
    loop: LoopResult
    episode: Episode | None = None   # with record=True

    @property
    def success(self) -> bool:
        return bool(self.loop.success)

    @property
    def duration(self) -> float:
        """Simulated seconds run."""
        return self.loop.duration_s

    def summary(self) -> dict[str, Any]:
        return {"seed": self.seed, "success": self.success, "instruction": self.task.instruction,
                "target": self.task.target, "family": self.task.family, **self.loop.to_dict()}


def uses_privileged_state(policy: Policy) -> bool:
    """True for the scripted expert (metadata "policy": "expert"), the one policy that reads
    privileged sim state; the ROS rollout decides the same way."""
    try:
        return policy.metadata().get("policy") == "expert"
    except Exception:  # metadata is descriptive: without it, no privileged state
        return False


def run_sim_episode(
    arm: SimArm,
    policy: Policy,
    seed: int,
    task: str | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    config: LoopConfig | None = None,
    record: bool = False,
    record_period: float = 0.1,
    stop_on_success: bool = True,
    privileged: bool | None = None,
    on_tick: Recorder | None = None,
) -> SimEpisodeResult:
    """Reset `arm` to `seed` and run `policy` through the control loop (see the module docstring).

    record: keep an Episode of the arm's cameras every `record_period` s (sim time).
    privileged: give the policy SimArm.privileged_state(); None = only the scripted expert.
    on_tick: another recorder hook, called on every tick (e.g. to collect the observations).
    """
    info = arm.reset(int(seed), task)
    cfg = config or LoopConfig()
    if privileged is None:
        privileged = uses_privileged_state(policy)
    recorder = EpisodeRecorder(arm.cameras, record_period, cfg.control_period) if record else None
    hooks = [h for h in (recorder, on_tick) if h is not None]

    def every_hook(tick: Tick) -> None:
        for hook in hooks:
            hook(tick)

    loop = ControlLoop(arm, policy, cfg, privileged=arm.privileged_state if privileged else None,
                       recorder=every_hook if hooks else None)
    result = loop.run(info.instruction, max_seconds, until=arm.success if stop_on_success else None)
    if not stop_on_success:
        result.success = arm.success()
    episode = None
    if recorder is not None:
        meta = {"task": info.to_dict(), "robot": arm.spec.to_dict(), "policy": _policy_id(policy), "seed": int(seed)}
        episode = recorder.episode(info.instruction, result.success, meta)
    return SimEpisodeResult(seed=int(seed), task=info, loop=result, episode=episode)


def _policy_id(policy: Policy) -> str:
    try:
        meta = policy.metadata()
        return str(meta.get("model_id") or meta.get("policy") or type(policy).__name__)
    except Exception:  # metadata is informational here; a failing one must not lose the episode
        return type(policy).__name__


SAFETY_KEYS = ("ok", "limited", "clamped", "workspace", "rejected", "hold", "estopped", "watchdog_trips")


def summarize(results: list[SimEpisodeResult], policy: str, wall_s: float) -> dict[str, Any]:
    """Totals over episodes, keyed like `roboalign rollout --sim`'s summary so the two compare."""
    n = len(results)
    successes = sum(r.success for r in results)
    infer = [ms for r in results for ms in r.loop.infer_ms]
    executor: dict[str, int] = {}
    for r in results:
        for k, v in r.loop.executor.items():
            executor[k] = executor.get(k, 0) + int(v)
    return {
        "path": "direct loop (roboalign.control.loop)",
        "policy": policy,
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "seeds": [r.seed for r in results],
        "failed_seeds": [r.seed for r in results if not r.success],
        "safety_interventions": {k: sum(int(r.loop.safety.get(k, 0)) for r in results) for k in SAFETY_KEYS},
        "max_safety_correction_rad": round(max((r.loop.max_correction_rad for r in results), default=0.0), 4),
        "executor": executor,
        "policy_calls": sum(r.loop.policy_calls for r in results),
        "policy_errors": sum(r.loop.policy_errors for r in results),
        "mean_infer_ms": round(sum(infer) / len(infer), 3) if infer else 0.0,
        "mean_episode_sim_s": round(sum(r.duration for r in results) / n, 3) if n else 0.0,
        "wall_s": round(wall_s, 2),
        "per_episode": [r.summary() for r in results],
    }
