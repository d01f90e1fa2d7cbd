"""Episodes of the simulated rollout graph, driven from the process that runs it.

Between episodes every node is reset while the graph is paused (no callback runs), in the
order sim -> policy -> executor -> safety, then any other node that has `reset_episode()` (the
controller bridge of the real-robot graph with the sim behind it). Each node then drops whatever is stamped before its
own reset, so nothing from the previous episode leaks into the next one: no old joint state
initialises the safety filter, no old chunk is played, no old command moves the new arm.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from roboalign.errors import UsageError
from roboalign_ros.runner import GraphRunner


@dataclasses.dataclass
class EpisodeOutcome:
    seed: int
    instruction: str
    success: bool
    duration_s: float                # wall seconds from the reset to success or timeout
    safety: dict[str, int]           # filter states and node drops during the episode
    executor: dict[str, int]         # chunk counters during the episode
    policy: dict[str, int]           # policy-call counters during the episode
    max_correction_rad: float        # largest |safe command - requested command| (rad)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: int(v - before.get(k, 0)) for k, v in after.items()}


class SimEpisodes:
    """Runs seeded episodes on a started GraphRunner of the rollout_sim graph."""

    def __init__(self, runner: GraphRunner) -> None:
        self.runner = runner
        self.sim = runner.node("sim")
        self.policy = runner.node("policy")
        self.executor = runner.node("executor")
        self.safety = runner.node("safety")
        named = (self.sim, self.policy, self.executor, self.safety)
        self.others = [n for n in runner.nodes.values() if n not in named and hasattr(n, "reset_episode")]

    def _counters(self) -> tuple[dict, dict, dict]:
        return self.safety.intervention_counts(), self.executor.stats(), dict(self.policy.counts)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Block until the policy node has reached the server and accepted its policy.
        UsageError at once when the served policy can never run here (e.g. it declares no robot,
        or needs privileged inputs outside simulation), TimeoutError after timeout_s otherwise;
        both say why."""
        deadline = time.monotonic() + timeout_s
        while not self.policy.connected:
            if self.policy.unusable:
                raise UsageError(self.policy.connect_error)
            if time.monotonic() > deadline:
                why = self.policy.connect_error or "no answer"
                raise TimeoutError(f"policy node did not reach the server at {self.policy.endpoint} "
                                   f"in {timeout_s:.0f} s ({why})")
            time.sleep(0.05)

    def reset(self, seed: int, task: str | None = None) -> str:
        with self.runner.paused():
            instruction = self.sim.reset(seed, task)
            self.policy.reset_episode()
            self.executor.reset_episode()
            self.safety.reset_episode()
            for node in self.others:
                node.reset_episode()
        return instruction

    def run(self, seed: int, max_seconds: float = 20.0, task: str | None = None, poll_s: float = 0.02) -> EpisodeOutcome:
        before = self._counters()
        t0 = time.monotonic()
        instruction = self.reset(seed, task)
        while not self.sim.success and time.monotonic() - t0 < max_seconds:
            time.sleep(poll_s)
        duration = time.monotonic() - t0
        after = self._counters()
        return EpisodeOutcome(
            seed=int(seed), instruction=instruction, success=bool(self.sim.success), duration_s=duration,
            safety=_delta(after[0], before[0]), executor=_delta(after[1], before[1]), policy=_delta(after[2], before[2]),
            max_correction_rad=float(self.safety.max_deviation),
        )

    def latency_ms(self) -> dict[str, list[float]]:
        """Every latency sample so far, per stage (ms)."""
        out: dict[str, list[float]] = {}
        for node in (self.policy, self.sim, *self.others):
            for stage, samples in getattr(node, "latency_ms", {}).items():
                out[stage] = list(samples)
        return out
