"""Normalisation statistics as LeRobot 0.4.4 computes them (lerobot/datasets/compute_stats.py).

Per episode and feature: min, max, mean, std, count and the quantiles q01 q10 q50 q90 q99, the
quantiles read off a 5000-bin histogram between the episode's min and max. Vectors [T, D] give
[D]-shaped stats (a scalar column [T] gives shape [1]); camera frames give per-channel stats of
[3, 1, 1] in 0..1 over a sample of the episode's frames (all of them up to 100). The dataset's
stats (meta/stats.json) aggregate the episodes': mean weighted by count, std from the pooled
variance, min of mins, max of maxes, quantiles averaged with the counts as weights.
"""
from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{int(q * 100):02d}" for q in QUANTILES)
HISTOGRAM_BINS = 5000


def _quantile(hist: np.ndarray, edges: np.ndarray, target: float) -> float:
    cumsum = np.cumsum(hist)
    idx = int(np.searchsorted(cumsum, target))
    if idx == 0:
        return float(edges[0])
    if idx >= len(cumsum):
        return float(edges[-1])
    before = cumsum[idx - 1]
    inside = cumsum[idx] - before
    if inside == 0:
        return float(edges[idx])
    return float(edges[idx] + (target - before) / inside * (edges[idx + 1] - edges[idx]))


def _stats_of_rows(rows: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of rows [N, D] over N (N >= 2), as RunningQuantileStats after one update."""
    n = rows.shape[0]
    mean = np.mean(rows, axis=0)
    mean_sq = np.mean(rows**2, axis=0)
    lo, hi = np.min(rows, axis=0), np.max(rows, axis=0)
    out = {"min": lo, "max": hi, "mean": mean, "std": np.sqrt(np.maximum(0, mean_sq - mean**2)),
           "count": np.array([n])}
    edges = [np.linspace(lo[i] - 1e-10, hi[i] + 1e-10, HISTOGRAM_BINS + 1) for i in range(rows.shape[1])]
    hists = [np.histogram(rows[:, i], bins=edges[i])[0].astype(np.float64) for i in range(rows.shape[1])]
    for q, key in zip(QUANTILES, QUANTILE_KEYS):
        out[key] = np.array([_quantile(h, e, q * n) for h, e in zip(hists, edges)])
    return out


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of one episode's column: [T] -> shape [1] each, [T, D] -> shape [D]."""
    rows = values.reshape(-1, 1) if values.ndim == 1 else values
    if rows.shape[0] < 2:  # LeRobot: no histogram for one sample; quantiles = mean
        out = {"min": rows.min(0), "max": rows.max(0), "mean": rows.mean(0), "std": rows.std(0),
               "count": np.array([rows.shape[0]])}
        out.update({k: out["mean"].copy() for k in QUANTILE_KEYS})
        return out
    return _stats_of_rows(rows)


def sample_indices(length: int) -> list[int]:
    """The frames LeRobot samples for image stats: evenly spaced, 100 up to ~460 frames, then T^0.75."""
    n = max(min(100, length), min(int(length**0.75), 10_000))
    return np.round(np.linspace(0, length - 1, n)).astype(int).tolist()


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel stats in 0..1, shape [3, 1, 1], of an episode's uint8 frames [T, H, W, 3]."""
    sampled = frames[sample_indices(frames.shape[0])]
    h, w = sampled.shape[1:3]
    if max(h, w) >= 300:  # LeRobot thins large frames to ~150 px before the stats
        step = int(w / 150) if w > h else int(h / 150)
        sampled = sampled[:, ::step, ::step]
    # float64 before squaring: LeRobot 0.4.4 squares the uint8 pixels (wrapping at 256), which
    # makes its image std wrong; we write the true std.
    stats = _stats_of_rows(sampled.reshape(-1, 3).astype(np.float64))
    stats["count"] = np.array([sampled.shape[0]])
    return {k: v if k == "count" else v.reshape(3, 1, 1) / 255.0 for k, v in stats.items()}


def aggregate(per_episode: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """The dataset's stats from the episodes' (LeRobot's aggregate_stats)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in dict.fromkeys(k for s in per_episode for k in s):
        parts = [s[key] for s in per_episode if key in s]
        means = np.stack([p["mean"] for p in parts])
        variances = np.stack([p["std"] ** 2 for p in parts])
        counts = np.stack([p["count"] for p in parts])
        total = counts.sum(axis=0)
        while counts.ndim < means.ndim:
            counts = np.expand_dims(counts, -1)
        mean = (means * counts).sum(axis=0) / total
        var = ((variances + (means - mean) ** 2) * counts).sum(axis=0) / total
        agg = {"min": np.min(np.stack([p["min"] for p in parts]), axis=0),
               "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
               "mean": mean, "std": np.sqrt(var), "count": total}
        for q in QUANTILE_KEYS:
            agg[q] = (np.stack([p[q] for p in parts]) * counts).sum(axis=0) / total
        out[key] = agg
    return out


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}
