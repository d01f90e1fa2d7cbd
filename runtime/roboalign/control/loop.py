"""ControlLoop: the direct closed loop, Robot + Policy + ChunkExecutor + SafetyFilter, no ROS.

The same path the ROS graph runs (policy node -> executor node -> safety node -> arm), in one
thread on the robot's clock (Robot.now / Robot.sleep_until; simulated time for the sim arm,
so a sim episode runs as fast as the CPU allows). Every control tick, at `control_rate_hz`:

1. read the measured joints;
2. every `replan_period` seconds: read the freshest frame of each camera, assemble an
   Observation (control.observation: max age, max skew, joint order by name; a refusal is
   counted and skips the call), call the policy, submit its chunk to the ChunkExecutor (a
   chunk with NaN, a wrong size or not newer is refused there and counted; a policy that
   raises is counted and skipped);
3. the executor's command for now goes through SafetyFilter.filter() (limits, watchdog; no
   command = hold), and only the filter's output reaches Robot.send_command();
4. the recorder hook, if any, receives a Tick (what was measured, asked and sent);
5. sleep until the next tick; stop after `max_seconds` or once `until()` is true.

A policy that fails (raises, returns NaN or nothing usable) therefore makes the arm hold: the
executor plays on to the end of the last good chunk, then the safety watchdog stops it.

The policy runs inside the tick: on hardware a call slower than the watchdog timeout makes the
filter stop the arm until the next chunk (fail closed), and ticks missed meanwhile are skipped
(counted in `overrun_ticks`), never replayed in a burst. Deployments with a slow model use the
ROS graph, where inference runs in another process.

LoopConfig's defaults are the ROS graph's (ros2 graph YAML rollout_sim.yaml, checked by a test),
so a success rate measured here measures the path the graph runs.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from roboalign.control.executor import ChunkExecutor
from roboalign.control.observation import ObservationAssembler, Privileged, Refusal
from roboalign.control.safety import SafetyConfig, SafetyFilter, SafetyState
from roboalign.core.action import ActionChunk
from roboalign.core.camera import CameraError, Frame
from roboalign.core.observation import Observation
from roboalign.core.policy import Policy
from roboalign.core.robot import JointState, Robot, RobotSpec

CLOCK_TOLERANCE_S = 1e-6  # float rounding of the robot's clock when comparing tick times


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Timing and limits of the direct loop; each default is the ROS graph's value (node.param)."""

    control_rate_hz: float = 50.0        # executor.control_rate_hz, safety.control_rate_hz (Hz)
    replan_period: float = 0.4           # policy.replan_period: s between policy calls
    crossfade: float = 0.1               # executor.crossfade: s (at least) over which a newer chunk joins
    late_tolerance: float = 0.1          # executor.late_tolerance: s before a chunk counts as late
    interpolation: str = "cubic"         # executor.interpolation: "cubic" (real-time chunking) or "linear"
    limit_scale: float = 0.9             # executor.limit_scale: fraction of the spec's limits its joins keep within
    position_margin: float = 0.025       # executor.position_margin: rad its plan keeps inside arm joint limits
    gripper_margin: float = 0.005        # executor.gripper_margin: gripper units its plan keeps inside its limits
    max_observation_age: float = 0.5     # policy.max_observation_age: s
    max_observation_skew: float = 0.5    # policy.max_observation_skew: s between streams
    safety: SafetyConfig = dataclasses.field(default_factory=SafetyConfig)  # safety.* (jerk_scale 0 = None)

    def __post_init__(self) -> None:
        for name in ("control_rate_hz", "replan_period", "max_observation_age", "max_observation_skew"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"LoopConfig.{name} must be a positive number, got {value}")

    @property
    def control_period(self) -> float:
        return 1.0 / self.control_rate_hz


@dataclasses.dataclass(frozen=True)
class Tick:
    """One control tick, as the recorder hook sees it.

    requested: the executor's command for `time` (the policy's plan), None before a first chunk.
    command: what the safety filter let through and the robot was sent.
    observation / chunk: set on ticks where the policy was called (chunk None if it failed).
    """

    index: int
    time: float            # robot clock (s)
    state: JointState      # measured at the start of the tick
    requested: np.ndarray | None
    command: np.ndarray | None
    safety: SafetyState
    observation: Observation | None = None
    chunk: ActionChunk | None = None


Recorder = Callable[[Tick], None]


@dataclasses.dataclass
class LoopResult:
    """What one run did. `success` is `until()` at the end (None without one: real robots)."""

    success: bool | None
    steps: int                       # control ticks run
    duration_s: float                # robot-clock seconds
    wall_s: float                    # seconds on this machine
    policy_calls: int                # infer() calls
    policy_errors: int               # infer() calls that raised (the arm held)
    infer_ms: list[float]            # per call, wall time
    refusals: dict[str, int]         # "reason stream" -> observations refused (no call)
    safety: dict[str, int]           # SafetyState value -> ticks, plus watchdog_trips
    max_correction_rad: float        # largest |safe command - accepted target| (rad)
    executor: dict[str, int]         # ChunkExecutor stats
    overrun_ticks: int = 0           # ticks skipped because a tick ran past the next one
    first_error: str = ""            # the first policy error, for the report

    @property
    def mean_infer_ms(self) -> float:
        return float(np.mean(self.infer_ms)) if self.infer_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("infer_ms")
        out["mean_infer_ms"] = round(self.mean_infer_ms, 3)
        out["max_infer_ms"] = round(max(self.infer_ms), 3) if self.infer_ms else 0.0
        out["duration_s"] = round(self.duration_s, 3)
        out["wall_s"] = round(self.wall_s, 3)
        return out


def policy_robot_spec(policy: Policy) -> RobotSpec | None:
    """The RobotSpec a policy declares in its metadata ("robot"), or None."""
    try:
        robot = policy.metadata().get("robot")
    except Exception:  # metadata is descriptive; a policy without it is checked on its chunks
        return None
    return RobotSpec.from_dict(robot) if isinstance(robot, dict) else None


class ControlLoop:
    """Runs `policy` on `robot` (see the module docstring).

    cameras: the cameras the policy sees (default: every camera of the robot).
    privileged: sim only: a callable returning ground truth for the scripted expert; a learned
        policy never gets one.
    recorder: called once per tick with a Tick (e.g. roboalign.data.recorder.EpisodeRecorder).
        An exception it raises ends the run (a recording must not fail silently); the arm then
        keeps its last safe command.
    """

    def __init__(self, robot: Robot, policy: Policy, config: LoopConfig | None = None,
                 cameras: Sequence[str] | None = None,
                 privileged: Callable[[], Mapping[str, np.ndarray]] | None = None,
                 recorder: Recorder | None = None) -> None:
        self.robot = robot
        self.policy = policy
        self.config = config or LoopConfig()
        self.cameras = tuple(robot.cameras) if cameras is None else tuple(cameras)
        missing = [c for c in self.cameras if c not in robot.cameras]
        if missing:
            have = ", ".join(robot.cameras) or "none"
            raise ValueError(f"the robot has no camera {', '.join(missing)} (it has {have})")
        declared = policy_robot_spec(policy)
        if declared is not None and declared.joint_names != robot.spec.joint_names:
            raise ValueError(f"the policy drives joints {list(declared.joint_names)}, the robot has "
                             f"{list(robot.spec.joint_names)}: use a policy trained for this robot")
        self.privileged = privileged
        self.recorder = recorder
        cfg = self.config
        self.assembler = ObservationAssembler(robot.spec, self.cameras, cfg.max_observation_age,
                                              cfg.max_observation_skew, privileged=privileged is not None)
        self._safety_config = dataclasses.replace(cfg.safety, control_period=cfg.control_period)
        self.executor = self._new_executor()
        # A Cartesian workspace (safety.workspace_min/max, table_height) needs the robot's FK.
        self._kinematics = robot.kinematics() if self._safety_config.has_workspace else None
        self.safety = SafetyFilter(robot.spec, self._safety_config, self._kinematics)

    def _new_executor(self) -> ChunkExecutor:
        cfg = self.config
        return ChunkExecutor(self.robot.spec, cfg.crossfade, cfg.late_tolerance, cfg.interpolation, cfg.limit_scale,
                             cfg.position_margin, cfg.gripper_margin)

    def run(self, instruction: str, max_seconds: float, until: Callable[[], bool] | None = None) -> LoopResult:
        """One episode from the robot's current pose: at most `max_seconds` on the robot's clock,
        stopping early once `until()` is true (checked after each tick)."""
        if not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
        cfg, robot = self.config, self.robot
        period = cfg.control_period
        # Fresh executor and filter per run: counts are per run, nothing plays over from before.
        self.executor = self._new_executor()
        self.safety = SafetyFilter(robot.spec, self._safety_config, self._kinematics)
        self.policy.reset()
        wall0 = time.perf_counter()
        t0 = robot.now()
        start = robot.read_state().positions
        self.safety.initialize(start)
        self.executor.reset(start)  # the first chunk joins from where the arm is, at rest
        max_steps = max(1, int(round(max_seconds / period)))
        next_plan = t0
        k = steps = calls = errors = overruns = 0
        infer_ms: list[float] = []
        refusals: dict[str, int] = {}
        max_correction = 0.0
        first_error = ""
        while k < max_steps:
            now = robot.now()
            state = robot.read_state()
            obs = chunk = None
            if now >= next_plan - CLOCK_TOLERANCE_S:
                next_plan = max(next_plan + cfg.replan_period, now + CLOCK_TOLERANCE_S)
                obs = self._observe(now, state, instruction)
                if isinstance(obs, Refusal):
                    key = f"{obs.reason.value} {obs.stream}"
                    refusals[key] = refusals.get(key, 0) + 1
                    obs = None
                else:
                    calls += 1
                    started = time.perf_counter()
                    try:
                        chunk = self.policy.infer(obs)
                    except Exception as exc:  # any policy failure: no chunk, the arm holds
                        errors += 1
                        first_error = first_error or f"{type(exc).__name__}: {exc}"
                    infer_ms.append((time.perf_counter() - started) * 1000.0)
                    if chunk is not None:
                        self.executor.submit(chunk, now)
            requested = self.executor.command(now)
            decision = self.safety.filter(requested, now)
            max_correction = max(max_correction, decision.deviation)
            if decision.command is not None:
                robot.send_command(decision.command)
            if self.recorder is not None:
                self.recorder(Tick(k, now, state, requested, decision.command, decision.state, obs, chunk))
            steps += 1
            k += 1
            late = robot.now() - (t0 + k * period)
            if late > period:  # hardware only: a slow tick; skip the missed ones, never burst
                skipped = int(late // period)
                k += skipped
                overruns += skipped
            robot.sleep_until(t0 + min(k, max_steps) * period)
            if until is not None and until():
                break
        return LoopResult(
            success=None if until is None else bool(until()),
            steps=steps, duration_s=robot.now() - t0, wall_s=time.perf_counter() - wall0,
            policy_calls=calls, policy_errors=errors, infer_ms=infer_ms, refusals=refusals,
            safety=dict(self.safety.counts), max_correction_rad=max_correction,
            executor=self.executor.stats.to_dict(), overrun_ticks=overruns, first_error=first_error,
        )

    def _observe(self, now: float, state: JointState, instruction: str) -> Observation | Refusal:
        frames: dict[str, Frame | None] = {}
        for name in self.cameras:
            try:  # the assembler judges age and skew; a camera only says what it has
                frames[name] = self.robot.cameras[name].read_latest(math.inf)
            except CameraError:
                frames[name] = None
        privileged = None
        if self.privileged is not None:
            privileged = Privileged(self.privileged(), self.robot.now())
        return self.assembler.assemble(now, state, frames, instruction, privileged)
