"""Representation probe (RoboAlign, section 4): k-NN accuracy of robot-state classes from
backbone features, before and after alignment.

Features: the hidden states of one decoder layer, mean-pooled over the prompt tokens (images
and text) of a robot frame. Labels, per frame (`LABELS`):
  phase         the expert's task phase when the samples carry one (e.g. reach / push);
  gripper       gripper state quantised into `bins` levels;
  state         every joint quantised into `bins` levels per joint, combined into one class
                (so bins**D classes at most; use few bins).
The prompt is built WITHOUT the proprioceptive state text by default: with the state written
in the prompt, a probe of the state measures the tokenizer, not the representation.

Split by episode (no frame of a test episode is in the bank), k-NN with cosine similarity and a
majority vote (ties broken by the summed similarity), accuracy against the majority-class
chance level of the test set. The numeric core (`knn_accuracy`, `split_by_episode`) is plain
numpy so it is tested on synthetic features.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

LABELS = ("phase", "gripper", "state")


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    accuracy: float
    chance: float  # frequency of the most common test class (a constant predictor's accuracy)
    k: int
    n_train: int
    n_test: int
    n_classes: int
    layer: int | None = None
    label: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def split_by_episode(
    episode_ids: Sequence[int | str], test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): whole episodes go to one side, seeded."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    eps = np.asarray([str(e) for e in episode_ids])
    unique = np.unique(eps)
    if len(unique) < 2:
        raise ValueError("the probe needs frames from at least two episodes (split is by episode)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    n_test = min(len(unique) - 1, max(1, int(round(test_fraction * len(unique)))))
    test_eps = set(unique[order[:n_test]].tolist())
    is_test = np.array([e in test_eps for e in eps])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int = 5) -> np.ndarray:
    """Majority vote of the k most cosine-similar training features."""
    train_x = _unit_rows(train_x)
    test_x = _unit_rows(test_x)
    train_y = np.asarray(train_y)
    if len(train_x) == 0:
        raise ValueError("k-NN probe: empty training bank")
    k = int(min(max(1, k), len(train_x)))
    sim = test_x @ train_x.T  # [n_test, n_train]
    nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    classes, y_idx = np.unique(train_y, return_inverse=True)
    votes = np.zeros((len(test_x), len(classes)))
    for j in range(k):
        cols = y_idx[nn[:, j]]
        # one vote each, plus a tiny similarity term so ties go to the closer class
        votes[np.arange(len(test_x)), cols] += 1.0 + 1e-6 * sim[np.arange(len(test_x)), nn[:, j]]
    return classes[votes.argmax(axis=1)]


def knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> ProbeResult:
    test_y = np.asarray(test_y)
    if len(test_y) == 0:
        raise ValueError("k-NN probe: empty test set")
    pred = knn_predict(train_x, train_y, test_x, k)
    _, counts = np.unique(test_y, return_counts=True)
    return ProbeResult(
        accuracy=float(np.mean(pred == test_y)),
        chance=float(counts.max() / len(test_y)),
        k=int(min(k, len(train_x))),
        n_train=int(len(train_x)),
        n_test=int(len(test_x)),
        n_classes=int(len(np.unique(np.concatenate([np.asarray(train_y), test_y])))),
    )


def quantize_state(states: np.ndarray, bins: int, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    """Class id per row of states [N, D]: each dim into `bins` equal-width levels, combined.

    low/high default to the data's min/max per dim (fit them on the training side and pass
    them for held-out data).
    """
    x = np.asarray(states, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    lo = x.min(0) if low is None else np.asarray(low, dtype=np.float64)
    hi = x.max(0) if high is None else np.asarray(high, dtype=np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    level = np.clip(np.floor((x - lo) / span * bins), 0, bins - 1).astype(np.int64)
    weights = bins ** np.arange(x.shape[1], dtype=np.int64)
    return level @ weights


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"k-NN probe: features must be [N, F], got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
