"""Per-dimension normalisation statistics (quantiles), saved beside models and tokenizers."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class NormStats:
    """Statistics of one D-dimensional quantity (actions or state).

    normalize() maps [q_low, q_high] -> [-1, 1] per dimension and clips; unnormalize() is its
    inverse on [-1, 1]. Dimensions with q_high == q_low (constant in the data) map to 0.
    """

    q_low: np.ndarray
    q_high: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    quantiles: tuple[float, float] = (0.01, 0.99)

    def __post_init__(self) -> None:
        for f in ("q_low", "q_high", "mean", "std"):
            arr = np.asarray(getattr(self, f), dtype=np.float64).reshape(-1)
            arr.setflags(write=False)
            object.__setattr__(self, f, arr)
        n = self.q_low.shape[0]
        if any(getattr(self, f).shape[0] != n for f in ("q_high", "mean", "std")):
            raise ValueError("NormStats fields must all have the same length")
        if np.any(self.q_high < self.q_low):
            raise ValueError("NormStats: q_high must be >= q_low")

    @property
    def dim(self) -> int:
        return int(self.q_low.shape[0])

    @classmethod
    def fit(cls, data: np.ndarray, quantiles: tuple[float, float] = (0.01, 0.99)) -> NormStats:
        """Fit on samples [..., D] (any leading shape, e.g. chunks [N, H, D])."""
        x = np.asarray(data, dtype=np.float64)
        if x.ndim < 1 or x.size == 0:
            raise ValueError("NormStats.fit needs at least one sample")
        x = x.reshape(-1, x.shape[-1])
        if not np.all(np.isfinite(x)):
            raise ValueError("NormStats.fit: data contains NaN or inf")
        lo, hi = np.quantile(x, quantiles, axis=0)
        return cls(q_low=lo, q_high=hi, mean=x.mean(0), std=x.std(0), quantiles=tuple(quantiles))

    def _span(self) -> np.ndarray:
        return self.q_high - self.q_low

    def normalize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        span = self._span()
        safe = np.where(span > 0, span, 1.0)
        y = 2.0 * (x - self.q_low) / safe - 1.0
        y = np.where(span > 0, y, 0.0)
        return np.clip(y, -1.0, 1.0)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0)
        return (y + 1.0) * 0.5 * self._span() + self.q_low

    def to_dict(self) -> dict:
        return {
            "q_low": self.q_low.tolist(),
            "q_high": self.q_high.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "quantiles": list(self.quantiles),
        }

    @classmethod
    def from_dict(cls, d: dict) -> NormStats:
        return cls(
            q_low=np.asarray(d["q_low"]),
            q_high=np.asarray(d["q_high"]),
            mean=np.asarray(d["mean"]),
            std=np.asarray(d["std"]),
            quantiles=tuple(d.get("quantiles", (0.01, 0.99))),
        )

    def digest(self) -> str:
        """Short stable hash, so a server and a client can check they use the same stats."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> NormStats:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"normalisation stats {path} not found (write them with NormStats.save)")
        return cls.from_dict(json.loads(path.read_text()))
