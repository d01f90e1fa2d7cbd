"""The baseline FAST is compared against: one token per time step and dimension, 256 bins.

This is the RT-2 / OpenVLA style per-step tokenizer: each normalised value in [-1, 1] goes to
one of `bins` uniform bins, so a chunk [H, D] costs exactly H*D tokens and the round-trip
error is at most half a bin (1 / bins in normalised units).
"""
from __future__ import annotations

import numpy as np

from roboalign.core import NormStats


class UniformBinTokenizer:
    def __init__(self, normalizer: NormStats | None = None, bins: int = 256):
        if bins < 2:
            raise ValueError("bins must be >= 2")
        self.normalizer = normalizer
        self.bins = int(bins)

    @property
    def vocab_size(self) -> int:
        return self.bins

    @property
    def bound(self) -> float:
        """Max abs round-trip error in normalised units."""
        return 1.0 / self.bins

    def encode_normalized(self, x: np.ndarray) -> np.ndarray:
        """[..., H, D] in [-1, 1] -> int bins [..., H*D] (time-major, as per-step tokenizers do)."""
        x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
        b = np.minimum(((x + 1.0) * 0.5 * self.bins).astype(np.int64), self.bins - 1)
        return b.reshape(*b.shape[:-2], -1)

    def decode_normalized(self, tokens, horizon: int, dim: int) -> np.ndarray:
        t = np.asarray(tokens, dtype=np.int64)
        return ((t + 0.5) / self.bins * 2.0 - 1.0).reshape(*t.shape[:-1], horizon, dim)

    def encode(self, chunk: np.ndarray) -> list[int]:
        return self.encode_normalized(self.normalizer.normalize(chunk)).tolist()

    def decode(self, tokens, horizon: int, dim: int) -> np.ndarray:
        return self.normalizer.unnormalize(self.decode_normalized(tokens, horizon, dim))
