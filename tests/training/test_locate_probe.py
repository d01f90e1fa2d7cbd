"""Localisation probe (training/locate_probe.py) on synthetic features: it reads a position that is there."""
from __future__ import annotations

import numpy as np


def _features(n: int, rng, informative: bool):
    from roboalign.training.head_features import FeatureSet

    tokens, dim = 6, 8
    labels = np.zeros((n, 2 + 6 + 1))
    labels[:, :2] = rng.uniform([0.28, -0.2], [0.48, 0.2], size=(n, 2))
    labels[:, -1] = rng.integers(0, 3, size=n)
    hidden = rng.normal(0, 1, size=(n, tokens, dim))
    if informative:  # token 2 holds the target position and colour; the rest is noise
        hidden[:, 2, :2] = (labels[:, :2] - [0.38, 0.0]) * 10
        hidden[np.arange(n), 2, 2 + labels[:, -1].astype(int)] += 3.0
    fs = FeatureSet(hidden.reshape(-1, dim).astype(np.float16), np.arange(0, n * tokens + 1, tokens),
                    np.zeros((n, 7)), np.zeros((n, 4, 7)))
    return fs, labels


def test_probe_locates_a_position_the_features_hold_and_not_one_they_do_not():
    from roboalign.training.locate_probe import fit_locate_probe

    rng = np.random.default_rng(0)
    res = {}
    for informative in (True, False):
        tr, ytr = _features(384, rng, informative)
        va, yva = _features(96, rng, informative)
        res[informative] = fit_locate_probe(tr, ytr, va, yva, steps=250, log=lambda _m: None)
    assert res[True]["median_cm"] < 0.5 * res[True]["blind_median_cm"]
    assert res[True]["colour_accuracy"] > 0.9
    assert res[False]["median_cm"] > 0.8 * res[False]["blind_median_cm"]
    assert res[False]["colour_accuracy"] < 0.6
