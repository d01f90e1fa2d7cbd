"""Shared fixtures: one FAST tokenizer fitted on smooth synthetic chunks (H=16, D=7)."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.tokenizer import FastTokenizer
from roboalign.tokenizer.synthetic import smooth_chunks

H, D = 16, 7


@pytest.fixture(scope="session")
def train_chunks() -> np.ndarray:
    return smooth_chunks(3000, H, D, seed=0)


@pytest.fixture(scope="session")
def fitted(train_chunks) -> FastTokenizer:
    """Fitted once per session; tests must not mutate it."""
    return FastTokenizer(scale=10.0, vocab_size=1024).fit(train_chunks)


@pytest.fixture(scope="session")
def held_out_chunks() -> np.ndarray:
    return smooth_chunks(200, H, D, seed=99)
