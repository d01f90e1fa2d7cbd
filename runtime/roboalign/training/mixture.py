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
from typing import Any

import numpy as np

from roboalign.data.frames import RobotFrames
from roboalign.data.sources import open_robot_source
from roboalign.policy.chat import ActionSpace
from roboalign.training.vqa import VQASource

SOURCE_KINDS = ("episodes", "vqa")


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    kind: str
    path: str
    weight: float = 1.0
    stride: int = 1
    limit: int | None = None  # at most this many episodes / questions
    only_successful: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"data source kind {self.kind!r}: use one of {SOURCE_KINDS}")
        if not self.weight >= 0:
            raise ValueError(f"data source {self.path}: weight must be >= 0")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceConfig, ...]
    horizon: int = 16
    cameras: tuple[str, ...] | None = None
    action_frame: str = "absolute"
    absolute_dims: tuple[int, ...] = ()
    samples_per_epoch: int | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataConfig":
        d = dict(d)
        srcs = d.pop("sources", None)
        if not srcs:
            raise ValueError("data.sources is empty: list at least one {kind, path} entry")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"data: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        sources = tuple(SourceConfig(**s) for s in srcs)
        if "cameras" in d and d["cameras"] is not None:
            d["cameras"] = tuple(d["cameras"])
        if "absolute_dims" in d:
            d["absolute_dims"] = tuple(d["absolute_dims"])
        return cls(sources=sources, **d)

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.horizon, self.action_frame, self.absolute_dims)


def open_source(src: SourceConfig, data: DataConfig):
    if src.kind == "episodes":
        return open_robot_source(src.path, data.horizon, data.cameras, src.stride, src.only_successful, src.limit)
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
