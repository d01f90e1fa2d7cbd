"""Action frames: what the FAST tokens of a chunk encode, relative to the robot's current state.

absolute  the recorded targets as they are (rad; gripper in its spec unit).
delta     target minus the current joint positions, per dimension, except `absolute_dims`
          (typically the gripper, whose command is a set point, not a motion).

Why offer delta: a chunk's absolute targets are mostly "where the arm already is", which a
small model must read off the state text before it can add the motion; in the delta frame the
tokens carry only the motion. Both frames are invertible given the state, so the served policy
returns absolute targets either way (`from_frame`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRAMES = ("absolute", "delta")


def _mask(dim: int, absolute_dims: Sequence[int]) -> np.ndarray:
    m = np.ones(dim, dtype=bool)
    for d in absolute_dims:
        if not -dim <= int(d) < dim:
            raise ValueError(f"absolute_dims entry {d} is out of range for {dim}-dimensional actions")
        m[int(d)] = False
    return m


def to_frame(chunk: np.ndarray, state: np.ndarray, frame: str, absolute_dims: Sequence[int] = ()) -> np.ndarray:
    """Absolute chunk [H, D] (or [N, H, D] with state [N, D]) -> chunk in `frame`."""
    x = np.asarray(chunk, dtype=np.float64)
    if frame == "absolute":
        return x.copy()
    if frame != "delta":
        raise ValueError(f"unknown action frame {frame!r}: use one of {FRAMES}")
    s = np.asarray(state, dtype=np.float64)
    if s.shape[-1] != x.shape[-1]:
        raise ValueError(f"state has {s.shape[-1]} dims, chunk has {x.shape[-1]}")
    shift = np.where(_mask(x.shape[-1], absolute_dims), s, 0.0)
    return x - shift[..., None, :]


def from_frame(chunk: np.ndarray, state: np.ndarray, frame: str, absolute_dims: Sequence[int] = ()) -> np.ndarray:
    """Inverse of to_frame: chunk in `frame` -> absolute targets."""
    x = np.asarray(chunk, dtype=np.float64)
    if frame == "absolute":
        return x.copy()
    if frame != "delta":
        raise ValueError(f"unknown action frame {frame!r}: use one of {FRAMES}")
    s = np.asarray(state, dtype=np.float64)
    shift = np.where(_mask(x.shape[-1], absolute_dims), s, 0.0)
    return x + shift[..., None, :]
