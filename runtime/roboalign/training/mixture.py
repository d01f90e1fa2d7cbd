"""Data mixing: several sources (robot episodes, VQA files) drawn by ratio into one epoch.

YAML (the `data:` section of a training config):

    data:
      horizon: 16                 # actions per chunk (FAST target length in steps)
      cameras: [front]            # prompt order; default: the first episode's cameras
      action_frame: delta         # absolute | delta (see roboalign.policy.actions)
      absolute_dims: [6]          # kept absolute in the delta frame (gripper)
      samples_per_epoch: null     # default: the sum of the sources' sizes
      seed: 0
      sources:
        - {kind: episodes, path: outputs/sim_data/train, weight: 0.8, stride: 1}
        - {kind: vqa, path: outputs/sim_data/train/vqa/vqa.jsonl, weight: 0.2}

Each source contributes round(samples_per_epoch * weight / sum(weights)) samples per epoch,
drawn without replacement from a seeded permutation (cycled when it asks for more than the
source holds, so a small source is repeated rather than dropped).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

from roboalign.data.frames import RobotFrames
from roboalign.data.samples import ReasoningSample
from roboalign.data.sources import open_robot_source
from roboalign.policy import actions as action_frames
from roboalign.policy.chat import ActionSpace
from roboalign.training.vqa import VQASource


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    kind: Literal["episodes", "vqa", "reasoning"]  # reasoning: the episodes' frames as reasoning chats
    path: str
    weight: float = 1.0
    stride: int = 1
    limit: int | None = None  # at most this many episodes / questions
    only_successful: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if not self.weight >= 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        if self.stride < 1 or (self.limit is not None and self.limit < 1):
            raise ValueError("stride must be >= 1 and limit >= 1 or null")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceConfig, ...]
    horizon: int = 16
    cameras: tuple[str, ...] | None = None
    action_frame: str = "absolute"
    absolute_dims: tuple[int, ...] = ()
    samples_per_epoch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("sources is empty: list at least one {kind, path} entry")
        if not any(s.weight > 0 for s in self.sources):
            raise ValueError("sources: at least one weight must be > 0")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.action_frame not in action_frames.FRAMES:
            raise ValueError(f"action_frame {self.action_frame!r}: use one of {', '.join(action_frames.FRAMES)}")
        if any(d < 0 for d in self.absolute_dims):
            raise ValueError(f"absolute_dims are joint indices (>= 0), got {list(self.absolute_dims)}")
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be >= 1 or null, got {self.samples_per_epoch}")

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.horizon, self.action_frame, self.absolute_dims)


class ReasoningFrames(Sequence):
    """A robot source served as reasoning samples: stage 1 learns the `<think>…</think><answer>`
    format (templated traces, policy/reasoning.py) beside direct actions, as the paper's SFT
    mixes a zero-shot-CoT set so that RL has reasoning to sample from (docs/stage2.md)."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> ReasoningSample:
        return ReasoningSample(self.frames[i])


def open_source(src: SourceConfig, data: DataConfig):
    if src.kind in ("episodes", "reasoning"):
        frames = open_robot_source(src.path, data.horizon, data.cameras, src.stride, src.only_successful, src.limit)
        return frames if src.kind == "episodes" else ReasoningFrames(frames)
    return VQASource(src.path, src.limit)


class Mixture(Sequence):
    """Samples of several sources, mixed by weight (see module docstring)."""

    def __init__(self, sources: Sequence[Sequence], weights: Sequence[float], total: int | None = None, seed: int = 0):
        if len(sources) != len(weights) or not sources:
            raise ValueError("Mixture needs one weight per source and at least one source")
        w = np.asarray(weights, dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError("Mixture: weights must not all be zero")
        self.sources = list(sources)
        total = int(total) if total else int(sum(len(s) for s in sources))
        counts = np.round(total * w / w.sum()).astype(int)
        rng = np.random.default_rng(seed)
        self.index: list[tuple[int, int]] = []
        for k, (src, n) in enumerate(zip(self.sources, counts)):
            if n == 0:
                continue
            if len(src) == 0:
                raise ValueError(f"Mixture: source {k} is empty but has weight {weights[k]}")
            reps = -(-n // len(src))
            order = np.concatenate([rng.permutation(len(src)) for _ in range(reps)])[:n]
            self.index += [(k, int(i)) for i in order]
        self.counts = [int(c) for c in counts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        k, j = self.index[i]
        return self.sources[k][j]


def build_mixture(data: DataConfig) -> tuple[Mixture, list[RobotFrames], list]:
    """(mixture, robot sources, all sources) for a DataConfig."""
    sources = [open_source(s, data) for s in data.sources]
    robots = [s for s in sources if isinstance(s, RobotFrames)]
    mix = Mixture(sources, [s.weight for s in data.sources], data.samples_per_epoch, data.seed)
    return mix, robots, sources
