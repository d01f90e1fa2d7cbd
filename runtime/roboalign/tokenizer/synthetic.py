"""Smooth synthetic action chunks, for tests and benchmarks when no demonstrations are at hand.

Each dimension is a random mix of a few low-frequency sinusoids plus a slow drift, the way
joint-position targets of a scripted arm look; the last dimension can be a gripper that
switches between two levels. Units are arbitrary "physical" ones (roughly rad).
"""
from __future__ import annotations

import numpy as np


def smooth_trajectories(num: int, length: int, dim: int, seed: int = 0, dt: float = 0.05,
                        gripper: bool = True) -> np.ndarray:
    """Trajectories [num, length, dim]."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) * dt
    freqs = rng.uniform(0.05, 1.0, size=(num, 1, dim, 3))        # Hz, slow as arm motion is
    amps = rng.uniform(0.05, 0.6, size=(num, 1, dim, 3)) / np.arange(1, 4)
    phase = rng.uniform(0, 2 * np.pi, size=(num, 1, dim, 3))
    x = (amps * np.sin(2 * np.pi * freqs * t[None, :, None, None] + phase)).sum(-1)
    x += rng.normal(0, 0.5, size=(num, 1, dim)) + rng.normal(0, 0.2, size=(num, 1, dim)) * t[None, :, None]
    if gripper and dim > 1:
        switch = rng.uniform(0, t[-1] + dt, size=(num, 1))
        x[..., -1] = np.where(t[None, :] < switch, 0.04, 0.0)      # metres of finger opening
    return x


def smooth_chunks(num: int, horizon: int, dim: int, seed: int = 0, **kw) -> np.ndarray:
    """Chunks [num, horizon, dim] cut from smooth trajectories."""
    return smooth_trajectories(num, horizon, dim, seed, **kw)
