"""k-NN representation probe: separable features give high accuracy, random labels ~chance."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.eval.probe import knn_accuracy, quantize_state, split_by_episode


def _clustered(n_per_class=40, n_classes=4, dim=16, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + noise * rng.normal(size=(len(y), dim))
    episodes = np.arange(len(y)) % 10  # 10 episodes, each holding every class
    return x, y, episodes


def test_separable_features_give_high_accuracy():
    x, y, ep = _clustered()
    tr, te = split_by_episode(ep, test_fraction=0.3, seed=0)
    res = knn_accuracy(x[tr], y[tr], x[te], y[te], k=5)
    assert res.accuracy >= 0.95 and res.n_classes == 4 and res.accuracy > res.chance


def test_random_labels_give_about_chance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1200, 16))
    y = rng.integers(0, 4, size=1200)
    ep = np.arange(1200) // 20
    tr, te = split_by_episode(ep, test_fraction=0.3, seed=0)
    res = knn_accuracy(x[tr], y[tr], x[te], y[te], k=7)
    assert abs(res.accuracy - 0.25) < 0.07


def test_split_keeps_whole_episodes_on_one_side():
    ep = np.repeat(np.arange(12), 5)
    tr, te = split_by_episode(ep, test_fraction=0.25, seed=3)
    assert set(ep[tr]).isdisjoint(set(ep[te]))
    assert len(set(ep[te])) == 3 and len(tr) + len(te) == len(ep)


def test_split_needs_two_episodes():
    with pytest.raises(ValueError, match="two episodes"):
        split_by_episode([0, 0, 0])


def test_quantize_state_combines_per_joint_levels():
    s = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.49, 0.51]])
    assert quantize_state(s, bins=2).tolist() == [0, 1, 2, 3, 2]
