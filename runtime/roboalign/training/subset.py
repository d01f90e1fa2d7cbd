"""The RL set: a small seeded fraction of the SFT robot data (RoboAlign used 0.56%).

Frames are drawn without replacement, spread over episodes: each episode contributes in
proportion to its length (largest remainders get the rounding), so a small RL set still sees
many episodes instead of a few long ones. The same (sizes, fraction, seed) always gives the
same subset, so a run can be reproduced and the RL set excluded from evaluation.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class SubsetSpec:
    """fraction in (0, 1]; min_count: never fewer frames than this (tiny datasets); seed."""

    fraction: float = 0.01
    seed: int = 0
    min_count: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"RL subset fraction must be in (0, 1], got {self.fraction}")
        if self.min_count < 1:
            raise ValueError("RL subset min_count must be >= 1")


def sample_rl_subset(episode_ids: Sequence[int | str], spec: SubsetSpec) -> np.ndarray:
    """Indices (sorted) into a list of frames whose episode is episode_ids[i]."""
    episode_ids = list(episode_ids)
    n = len(episode_ids)
    if n == 0:
        raise ValueError("RL subset: the robot dataset is empty")
    count = min(n, max(spec.min_count, int(round(spec.fraction * n))))
    rng = np.random.default_rng(spec.seed)

    groups: dict[object, list[int]] = {}
    for i, ep in enumerate(episode_ids):
        groups.setdefault(ep, []).append(i)
    keys = list(groups)
    rng.shuffle(keys)  # ties in the remainder go to a seeded random set of episodes
    sizes = np.array([len(groups[k]) for k in keys], dtype=np.float64)
    quota = sizes * count / n
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    for j in order[: count - int(take.sum())]:
        take[j] += 1

    chosen: list[int] = []
    for key, t in zip(keys, take):
        if t:
            chosen.extend(rng.choice(groups[key], size=int(t), replace=False).tolist())
    return np.sort(np.asarray(chosen, dtype=np.int64))
