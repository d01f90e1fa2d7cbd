"""Closed-loop evaluation on the simulation suites: episodes, records, aggregates.

    cfg = SimEvalConfig(policy="expert", suites=("nominal",), episodes=50, seed=0, workers=2)
    records = run_suites(cfg)             # one EpisodeRecord per (suite, seed), sorted
    summary = summarize(records, cfg)     # per suite / condition / colour, Wilson intervals

Every episode runs through sim.episodes.run_sim_episode (the one control loop: chunk executor
and safety filter) on an eval.scene.EvalArm. Episode i of every suite uses seed `seed + i`, so
suites share layouts and two runs of the same seeds pair up (`roboalign eval compare`).
Workers are spawned processes that each load the policy once; an episode's outcome depends only
on (suite, seed): the arm resets fully, the policy is reset and the global RNGs are seeded from
the seed before every episode, so the worker count does not change results.

Failure categories of a failed episode, first that applies:
  policy_error  infer() raised at least once (the arm held)
  wrong_object  the touch condition held on an object other than the current target
  safety        the safety filter stopped or cut commands (estop, rejected, hold, watchdog,
                workspace)
  timeout       none of the above: the time ran out
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roboalign.eval import stats
from roboalign.eval.suites import SUITES, json_safe

FAILURES = ("timeout", "wrong_object", "safety", "policy_error")
SAFETY_STOPS = ("estopped", "rejected", "hold", "watchdog_trips", "workspace")
SAFETY_KEYS = ("limited", "clamped", "workspace", "rejected", "hold", "estopped", "watchdog_trips")
NEAR_MISS_MM = 60.0       # a timeout this close to the target's top is a near miss
VIDEO_SIZE = (240, 320)   # (height, width) of the rollout videos and contact sheets
VIDEO_PERIOD_S = 0.1      # sim seconds between video frames


@dataclasses.dataclass(frozen=True)
class SimEvalConfig:
    policy: str                       # "expert" or a checkpoint folder
    suites: tuple[str, ...]
    episodes: int = 50                # per suite
    seed: int = 0                     # episode i uses seed + i
    workers: int = 1
    max_seconds: float = 20.0         # sim s per episode (= `roboalign rollout` default)
    videos: int = 2                   # first episodes of each suite saved as mp4 + frames
    out: str | None = None            # folder for videos (None: none)
    torch_threads: int = 1
    ros: bool = False                 # through the ROS 2 graph (roboalign_ros.eval_sim), not the direct loop

    def jobs(self) -> list[tuple[str, int, bool]]:
        return [(s, self.seed + i, i < self.videos and self.out is not None)
                for s in self.suites for i in range(self.episodes)]


@dataclasses.dataclass
class EpisodeRecord:
    suite: str
    seed: int
    family: str
    instruction: str
    targets: list[str]
    condition: str
    success: bool
    failure: str                      # "" or one of FAILURES
    wrong_object: str
    steps_done: int                   # sub-goals reached (multistep: touches in order)
    closest_mm: float                 # closest approach of the fingertips to the current target's top
    steps: int                        # control ticks
    sim_s: float
    wall_s: float
    policy_calls: int
    policy_errors: int
    first_error: str
    infer_ms: dict[str, float]        # p50, p95, p99, max, mean over this episode's calls
    infer_all_ms: list[float]         # every call (aggregated into the suite's percentiles)
    safety: dict[str, int]
    max_correction_rad: float
    refusals: dict[str, int]
    variant: dict[str, Any]
    video: str = ""                   # mp4 path relative to the output folder
    frames: str = ""                  # .npy of contact-sheet frames, relative

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))


def failure_category(success: bool, policy_errors: int, wrong_object: str, safety: dict[str, int]) -> str:
    if success:
        return ""
    if policy_errors:
        return "policy_error"
    if wrong_object:
        return "wrong_object"
    if any(int(safety.get(k, 0)) for k in SAFETY_STOPS):
        return "safety"
    return "timeout"


def seed_everything(seed: int) -> None:
    """Global RNGs from the episode seed (a policy that draws from them gets the same draws)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = __import__("sys").modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


class Evaluator:
    """One process's policy and arms (one EvalArm per suite, built on first use)."""

    def __init__(self, cfg: SimEvalConfig) -> None:
        if cfg.torch_threads:
            os.environ.setdefault("OMP_NUM_THREADS", str(cfg.torch_threads))
        from roboalign.policy.registry import load_policy
        from roboalign.sim.episodes import uses_privileged_state

        self.cfg = cfg
        self.policy = load_policy(cfg.policy)
        if cfg.torch_threads and "torch" in __import__("sys").modules:
            __import__("torch").set_num_threads(cfg.torch_threads)
        meta = self.policy.metadata()
        # The expert reads privileged state, not pixels: its arms render nothing (videos aside).
        self.cameras = () if uses_privileged_state(self.policy) else tuple(meta.get("cameras") or ())
        self.image_size = tuple(meta.get("image_size") or (128, 128))
        self.arms: dict[str, Any] = {}
        self._video_renderer: dict[str, Any] = {}

    def arm(self, suite: str):
        if suite not in self.arms:
            from roboalign.eval.scene import EvalArm

            self.arms[suite] = EvalArm(suite, render_size=self.image_size, cameras=self.cameras)
        return self.arms[suite]

    def run(self, job: tuple[str, int, bool]) -> EpisodeRecord:
        from roboalign.sim.episodes import run_sim_episode

        suite, seed, video = job
        arm = self.arm(suite)
        seed_everything(seed)
        frames: list = []
        hook = self._frame_grabber(suite, arm, frames) if video else None
        r = run_sim_episode(arm, self.policy, seed, max_seconds=self.cfg.max_seconds, on_tick=hook)
        if video:
            frames.append(self._render_video(suite, arm))  # the last state (success stops the loop)
        loop, v = r.loop, arm.variant
        record = EpisodeRecord(
            suite=suite, seed=seed, family=v.family, instruction=arm.task.instruction, targets=list(v.targets),
            condition=v.condition, success=r.success,
            failure=failure_category(r.success, loop.policy_errors, arm.wrong_object, loop.safety),
            wrong_object=arm.wrong_object, steps_done=arm.steps_done, closest_mm=round(1000 * arm.closest_m, 1),
            steps=loop.steps,
            sim_s=round(loop.duration_s, 3), wall_s=round(loop.wall_s, 3), policy_calls=loop.policy_calls,
            policy_errors=loop.policy_errors, first_error=loop.first_error,
            infer_ms={**stats.percentiles(loop.infer_ms), "max": round(max(loop.infer_ms, default=0.0), 3),
                      "mean": round(loop.mean_infer_ms, 3)},
            infer_all_ms=[round(x, 3) for x in loop.infer_ms],
            safety={k: int(loop.safety.get(k, 0)) for k in ("ok", *SAFETY_KEYS)},
            max_correction_rad=round(loop.max_correction_rad, 4), refusals=dict(loop.refusals),
            variant=v.to_dict(),
        )
        if video:
            record.video, record.frames = save_rollout(Path(self.cfg.out), suite, seed, frames)
        return record

    def _render_video(self, suite: str, arm):
        import mujoco

        renderer = self._video_renderer.get(suite)
        if renderer is None:
            renderer = mujoco.Renderer(arm.model, height=VIDEO_SIZE[0], width=VIDEO_SIZE[1])
            self._video_renderer[suite] = renderer
        renderer.update_scene(arm.data, camera="front")
        return renderer.render()

    def _frame_grabber(self, suite: str, arm, frames: list) -> Callable:
        next_t = [-1.0]

        def grab(tick) -> None:
            if tick.time >= next_t[0]:
                frames.append(self._render_video(suite, arm))
                next_t[0] = tick.time + VIDEO_PERIOD_S - 1e-6
        return grab

    def close(self) -> None:
        for r in self._video_renderer.values():
            r.close()
        for arm in self.arms.values():
            arm.close()


def save_rollout(out: Path, suite: str, seed: int, frames: list) -> tuple[str, str]:
    """frames -> OUT/videos/<suite>_<seed>.mp4 (PyAV, H.264 or MPEG-4) and 8 evenly spaced frames
    as .npy for the contact sheet; returns both paths relative to OUT ("" for a video PyAV
    could not write)."""
    import numpy as np

    folder = out / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{suite}_{seed:06d}"
    idx = np.linspace(0, len(frames) - 1, num=min(8, len(frames))).round().astype(int)
    np.save(folder / f"{stem}_frames.npy", np.stack([frames[i] for i in idx]))
    video = ""
    try:
        from roboalign.data.video import encode, preview_codec

        encode(np.stack(frames), folder / f"{stem}.mp4", round(1.0 / VIDEO_PERIOD_S), preview_codec())
        video = f"videos/{stem}.mp4"
    except Exception:  # no encoder in this PyAV build: the contact sheet still shows the rollout
        pass
    return video, f"videos/{stem}_frames.npy"


# ---------------------------------------------------------------------------------- workers
_WORKER: Evaluator | None = None


def _init_worker(cfg: SimEvalConfig) -> None:
    global _WORKER
    _WORKER = Evaluator(cfg)


def _run_job(job: tuple[str, int, bool]) -> EpisodeRecord:
    assert _WORKER is not None
    return _WORKER.run(job)


def run_suites(cfg: SimEvalConfig, on_record: Callable[[EpisodeRecord], None] | None = None) -> list[EpisodeRecord]:
    """Every (suite, seed) episode of `cfg`, sorted by suite (SUITES order) then seed."""
    unknown = [s for s in cfg.suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}: choose from {', '.join(SUITES)}")
    jobs = cfg.jobs()
    records: list[EpisodeRecord] = []
    if cfg.workers <= 1:
        ev = Evaluator(cfg)
        try:
            for job in jobs:
                records.append(ev.run(job))
                if on_record:
                    on_record(records[-1])
        finally:
            ev.close()
    else:
        ctx = multiprocessing.get_context("spawn")  # no forked MuJoCo/GL/torch state
        with ctx.Pool(min(cfg.workers, len(jobs)), initializer=_init_worker, initargs=(cfg,)) as pool:
            for record in pool.imap_unordered(_run_job, jobs, chunksize=1):
                records.append(record)
                if on_record:
                    on_record(record)
    order = {s: i for i, s in enumerate(SUITES)}
    return sorted(records, key=lambda r: (order[r.suite], r.seed))


# -------------------------------------------------------------------------------- aggregates
def aggregate(records: list[EpisodeRecord]) -> dict[str, Any]:
    """Success with its Wilson 95% interval, failure categories, latency and safety over records."""
    n = len(records)
    k = sum(r.success for r in records)
    lo, hi = stats.wilson(k, n)
    infer = [x for r in records for x in r.infer_all_ms]
    return {
        "episodes": n, "successes": k, "success_rate": round(k / n, 4) if n else 0.0,
        "wilson95": [round(lo, 4), round(hi, 4)],
        "failures": {f: sum(r.failure == f for r in records) for f in FAILURES},
        "wrong_objects": _count(r.wrong_object for r in records if r.failure == "wrong_object"),
        # Timeouts whose fingertips came within NEAR_MISS_MM of the target's top: it found the
        # block but did not settle within tasks.TOUCH_RADIUS (30 mm) for the hold time.
        "near_misses": sum(r.failure == "timeout" and r.closest_mm < NEAR_MISS_MM for r in records),
        "infer_ms": {**stats.percentiles(infer), "max": round(max(infer, default=0.0), 3), "calls": len(infer)},
        "safety": {key: sum(r.safety.get(key, 0) for r in records) for key in SAFETY_KEYS},
        "episodes_with_safety_interventions": sum(any(r.safety.get(key, 0) for key in SAFETY_KEYS) for r in records),
        "policy_errors": sum(r.policy_errors for r in records),
        "mean_sim_s": round(sum(r.sim_s for r in records) / n, 3) if n else 0.0,
        "mean_sim_s_success": _mean([r.sim_s for r in records if r.success]),
        "wall_s": round(sum(r.wall_s for r in records), 2),
        "failed_seeds": [r.seed for r in records if not r.success],
    }


def summarize(records: list[EpisodeRecord], cfg: SimEvalConfig, policy_meta: dict | None = None,
              wall_s: float = 0.0) -> dict[str, Any]:
    suites: dict[str, Any] = {}
    for s in cfg.suites:
        rs = [r for r in records if r.suite == s]
        by_condition = {c: aggregate([r for r in rs if r.condition == c]) for c in sorted({r.condition for r in rs})}
        by_colour = {c: aggregate([r for r in rs if "+".join(t.split("_")[0] for t in r.targets) == c])
                     for c in sorted({"+".join(t.split("_")[0] for t in r.targets) for r in rs})}
        suites[s] = {"description": SUITES[s].description, "family": SUITES[s].family, **aggregate(rs),
                     "by_condition": by_condition, "by_colour": by_colour}
    return {
        "config": dataclasses.asdict(cfg),
        "policy": cfg.policy,
        "policy_meta": json_safe(policy_meta or {}),
        "seeds": [cfg.seed, cfg.seed + cfg.episodes - 1],
        "path": ("ROS 2 graph (inference server process; sim, policy, executor and safety nodes; "
                 "roboalign_ros.eval_sim)" if cfg.ros else
                 "direct control loop (roboalign.control.loop: chunk executor + safety filter)"),
        "wall_s": round(wall_s, 2),
        "overall": aggregate(records),
        "suites": suites,
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 3) if xs else 0.0


def policy_metadata(policy: str) -> dict[str, Any]:
    """A short description of the policy for the summary (model id, cameras, chunk)."""
    if policy == "expert":
        return {"policy": "expert", "model_id": "scripted-expert"}
    import json

    folder = Path(policy)
    for name in ("vla.json", "roboalign.json"):
        if (folder / name).is_file():
            info = json.loads((folder / name).read_text())
            keep = ("model_id", "cameras", "image_size", "chunk_length", "control_period", "stage", "task_families")
            return {"policy": str(folder), **{k: info[k] for k in keep if k in info}}
    return {"policy": str(folder)}
