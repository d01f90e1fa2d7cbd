"""Where the tokenizer's training chunks come from: arrays on disk or recorded episodes.

Accepted `--data` paths:
- `.npy` holding chunks [N, H, D], one trajectory [T, D], or trajectories [E, T, D];
- `.npz` with a `chunks` array [N, H, D], or an `actions` array [T, D] / [E, T, D];
- a folder of episodes written by roboalign.data.episode.Episode.save (the folder itself may
  be one episode, or hold one episode per sub-folder).
Trajectories are cut into one chunk per step (stride configurable); chunks that run past the
end repeat the last action, the convention a policy's training targets use at episode ends.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_HORIZON = 16  # steps; the RoboAlign action head's chunk length


def windows(actions: np.ndarray, horizon: int, stride: int = 1) -> np.ndarray:
    """Trajectory [T, D] -> chunks [ceil(T/stride), horizon, D], padded with the last action."""
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"a trajectory must be [T>=1, D], got shape {a.shape}")
    idx = np.arange(0, a.shape[0], stride)[:, None] + np.arange(horizon)[None, :]
    return a[np.minimum(idx, a.shape[0] - 1)]


def _from_array(arr: np.ndarray, horizon: int, stride: int, what: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2:
        return windows(arr, horizon, stride)
    if arr.ndim == 3:
        return arr
    raise ValueError(f"{what}: expected [T, D] actions or [N, H, D] chunks, got shape {arr.shape}")


def _episode_chunks(ep, horizon: int, stride: int) -> np.ndarray:
    t_len = int(np.asarray(ep.actions).shape[0])
    if hasattr(ep, "action_chunk"):  # same padding rule as the policy's training targets
        return np.stack([np.asarray(ep.action_chunk(t, horizon), dtype=np.float64)
                         for t in range(0, t_len, stride)])
    return windows(ep.actions, horizon, stride)


def load_chunks(path: str | Path, horizon: int | None = None, stride: int = 1) -> np.ndarray:
    """Action chunks [N, H, D] in physical units from any accepted source (see module doc).

    horizon None: chunk arrays keep their own H, trajectories are cut with DEFAULT_HORIZON.
    A 3-D .npy whose axis 1 differs from an explicit horizon is read as trajectories [E, T, D].
    """
    p = Path(path)
    explicit = horizon is not None
    horizon = DEFAULT_HORIZON if horizon is None else int(horizon)
    if horizon < 1 or stride < 1:
        raise ValueError("horizon and stride must be >= 1")
    if p.is_file() and p.suffix == ".npy":
        arr = np.load(p, allow_pickle=False)
        if explicit and arr.ndim == 3 and arr.shape[1] != horizon and arr.shape[0] > 0:
            # [E, T, D] trajectories are told from [N, H, D] chunks by their length.
            return np.concatenate([windows(e, horizon, stride) for e in arr])
        return _from_array(arr, horizon, stride, str(p))
    if p.is_file() and p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if "chunks" in z:
                return _from_array(z["chunks"], horizon, stride, f"{p}:chunks")
            if "actions" in z:
                a = z["actions"]
                if a.ndim == 3:
                    return np.concatenate([windows(e, horizon, stride) for e in a])
                return _from_array(a, horizon, stride, f"{p}:actions")
        raise ValueError(f"{p}: no 'chunks' or 'actions' array inside (keys: {list(np.load(p).keys())})")
    if p.is_dir():
        return _load_episode_dir(p, horizon, stride)
    raise FileNotFoundError(f"{p}: not an .npy/.npz file or an episode folder")


def _load_episode_dir(p: Path, horizon: int, stride: int) -> np.ndarray:
    try:
        from roboalign.data.episode import Episode
    except ImportError as exc:
        raise RuntimeError(f"{p} is a folder, but roboalign.data.episode is not available ({exc}); "
                           "pass an .npy/.npz of chunks instead") from exc
    candidates = [p] + sorted(c for c in p.iterdir() if c.is_dir())
    chunks, errors = [], []
    for c in candidates:
        try:
            ep = Episode.load(c)
        except Exception as exc:  # not an episode folder: try the next one
            errors.append(f"{c.name}: {exc}")
            continue
        chunks.append(_episode_chunks(ep, horizon, stride))
        if c == p:
            break  # the folder itself is one episode
    if not chunks:
        raise ValueError(f"{p}: no episode could be loaded ({'; '.join(errors[:3])})")
    return np.concatenate(chunks)
