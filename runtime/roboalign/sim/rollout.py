"""Direct closed loop: SimArm + Policy in one process, no ROS, no server.

The fast path for generating demonstrations, success-rate sweeps and tests. The deployment path
(ROS 2 nodes, inference server, chunk executor, safety node) lives elsewhere; this loop mirrors
its timing in the simplest way: the policy is queried every `replan_period` seconds of sim time
and the current chunk is played at the arm's control rate by linear interpolation between its
points, holding the last point after its end.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.policy import Policy
from roboalign.data.episode import Episode
from roboalign.sim.arm import SimArm
from roboalign.sim.tasks import TaskInfo


@dataclasses.dataclass
class EpisodeResult:
    seed: int
    success: bool
    steps: int  # control steps executed
    duration: float  # simulated seconds
    wall_time: float  # seconds on this machine
    policy_calls: int
    mean_infer_ms: float
    task: TaskInfo
    episode: Episode | None = None

    def summary(self) -> dict:
        return {
            "seed": self.seed,
            "success": self.success,
            "steps": self.steps,
            "duration_s": round(self.duration, 3),
            "wall_s": round(self.wall_time, 3),
            "policy_calls": self.policy_calls,
            "mean_infer_ms": round(self.mean_infer_ms, 3),
            "instruction": self.task.instruction,
            "target": self.task.target,
            "family": self.task.family,
        }


def command_at(chunk: ActionChunk, t: float) -> np.ndarray:
    """The chunk's target at time t: linear between points, first/last point outside its span."""
    u = (t - chunk.start_time) / chunk.dt
    if u <= 0:
        return chunk.actions[0].copy()
    if u >= chunk.horizon - 1:
        return chunk.actions[-1].copy()
    k = int(u)
    w = u - k
    return (1.0 - w) * chunk.actions[k] + w * chunk.actions[k + 1]


def run_episode(
    arm: SimArm,
    policy: Policy,
    seed: int,
    max_seconds: float = 12.0,
    replan_period: float = 0.4,
    task: str | None = None,
    record: bool = False,
    record_period: float = 0.1,
    stop_on_success: bool = True,
) -> EpisodeResult:
    """Run one seeded episode; `record` keeps an Episode sampled every `record_period` s.

    Images are rendered only for the arm's configured cameras (SimArm(cameras=()) renders
    nothing, the fastest setting when no recording is wanted).
    """
    control_dt = arm.spec.control_period
    per_replan = max(1, int(round(replan_period / control_dt)))
    per_record = max(1, int(round(record_period / control_dt)))
    wall0 = time.perf_counter()
    info = arm.reset(seed, task)
    policy.reset()
    chunk: ActionChunk | None = None
    calls, infer_s, step = 0, 0.0, 0
    frames: dict[str, list[np.ndarray]] = {c: [] for c in arm.cameras} if record else {}
    joints: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    stamps: list[float] = []
    max_steps = int(round(max_seconds / control_dt))
    while step < max_steps:
        t = arm.time
        replan = step % per_replan == 0
        keep = record and step % per_record == 0
        obs = arm.observation(t) if (replan or keep) else None
        if replan:
            t0 = time.perf_counter()
            chunk = policy.infer(obs)
            infer_s += time.perf_counter() - t0
            calls += 1
        assert chunk is not None
        command = command_at(chunk, t)
        if keep:
            for cam in frames:
                frames[cam].append(obs.images[cam])
            joints.append(obs.joint_positions)
            actions.append(command)
            stamps.append(t)
        arm.set_command(command)
        arm.step(control_dt)
        step += 1
        if stop_on_success and arm.success():
            break
    success = arm.success()
    episode = None
    if record:
        meta = {"task": info.to_dict(), "robot": arm.spec.to_dict(), "policy": _policy_id(policy)}
        episode = Episode(
            instruction=info.instruction,
            images={c: np.stack(v) for c, v in frames.items()},
            joint_positions=np.stack(joints),
            actions=np.stack(actions),
            timestamps=np.asarray(stamps),
            success=success,
            dt=per_record * control_dt,
            metadata=meta,
        )
    return EpisodeResult(
        seed=int(seed),
        success=success,
        steps=step,
        duration=arm.time,
        wall_time=time.perf_counter() - wall0,
        policy_calls=calls,
        mean_infer_ms=1000.0 * infer_s / max(calls, 1),
        task=info,
        episode=episode,
    )


def _policy_id(policy: Policy) -> str:
    try:
        meta = policy.metadata()
        return str(meta.get("model_id") or meta.get("policy") or type(policy).__name__)
    except Exception:  # metadata is informational here; a failing one must not lose the episode
        return type(policy).__name__
