"""RL subset sampler: seeded, sized by fraction, spread over episodes."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.training.subset import SubsetSpec, sample_rl_subset

EPISODES = [e for e in range(20) for _ in range(50)]  # 20 episodes x 50 frames


def test_same_seed_same_subset_other_seed_other_subset():
    a = sample_rl_subset(EPISODES, SubsetSpec(0.05, seed=3))
    b = sample_rl_subset(EPISODES, SubsetSpec(0.05, seed=3))
    c = sample_rl_subset(EPISODES, SubsetSpec(0.05, seed=4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_size_is_the_fraction_without_duplicates():
    idx = sample_rl_subset(EPISODES, SubsetSpec(0.05, seed=0))
    assert len(idx) == 50 and len(set(idx.tolist())) == 50
    assert idx.min() >= 0 and idx.max() < len(EPISODES)


def test_frames_spread_over_episodes_in_proportion():
    idx = sample_rl_subset(EPISODES, SubsetSpec(0.04, seed=0))  # 40 frames over 20 episodes
    per_episode = np.bincount(np.asarray(EPISODES)[idx], minlength=20)
    assert per_episode.min() == 2 and per_episode.max() == 2


def test_tiny_fraction_still_gives_min_count():
    assert len(sample_rl_subset(EPISODES, SubsetSpec(1e-6, seed=0, min_count=3))) == 3


def test_bad_fraction_is_a_readable_error():
    with pytest.raises(ValueError, match="fraction"):
        SubsetSpec(fraction=0.0)
