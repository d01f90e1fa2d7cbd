"""Orthonormal DCT-II along time, quantised: FAST's first stage, and its error bound.

A chunk x [H, D] (normalised to [-1, 1]) becomes integer coefficients
q = round(scale * M_H @ x), where M_H is the orthonormal DCT-II matrix of size H
(scipy.fft.dct(I, norm="ortho")). Decoding is x' = M_H.T @ (q / scale).

Why a cached matrix and not scipy.fft.dct on every call: for the small horizons a policy uses
(H = 8..64) one [H, H] matmul costs ~1-2 us, a pocketfft call ~10 us of Python/C overhead;
the matrix is built with scipy.fft once per horizon, so it is exactly the same transform.

Quantisation bound (the guarantee the property tests pin down). Rounding changes each
coefficient by e_k with |e_k| <= 0.5 / scale. The time-domain error of one dimension is
(M.T @ e)_n = sum_k M[k, n] e_k, so
    |x'_n - x_n| <= (0.5 / scale) * max_n sum_k |M[k, n]|  =: bound(H, scale)
and, because every column of M has unit L2 norm (Cauchy-Schwarz),
    sum_k |M[k, n]| <= sqrt(H)   =>   bound(H, scale) <= 0.5 * sqrt(H) / scale.
Coefficient range: ||M x||_2 = ||x||_2 <= sqrt(H) for x in [-1, 1]^H, so every integer
symbol lies in [-ceil(scale * sqrt(H)), +ceil(scale * sqrt(H))]: a tokenizer built for
horizons up to max_horizon needs exactly that alphabet and never has to clip.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft


@functools.lru_cache(maxsize=256)
def dct_matrix(horizon: int) -> np.ndarray:
    """Orthonormal DCT-II matrix M [H, H]: coefficients = M @ x (x along time). Read-only."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    m = scipy.fft.dct(np.eye(horizon), norm="ortho", axis=0)
    m.setflags(write=False)
    return m


@functools.lru_cache(maxsize=256)
def _column_abs_sum_max(horizon: int) -> float:
    return float(np.abs(dct_matrix(horizon)).sum(axis=0).max())


def quantization_bound(horizon: int, scale: float) -> float:
    """Max abs time-domain error (normalised units) of decode(encode(x)) for x in [-1, 1]."""
    return 0.5 / float(scale) * _column_abs_sum_max(int(horizon))


def symbol_radius(max_horizon: int, scale: float) -> int:
    """Largest |integer symbol| any chunk with H <= max_horizon in [-1, 1] can produce."""
    # +1 absorbs float round-off in M @ x for a chunk sitting exactly on the bound.
    return int(math.ceil(float(scale) * math.sqrt(max_horizon))) + 1


def quantize(x: np.ndarray, scale: float) -> np.ndarray:
    """Normalised chunks [..., H, D] -> integer coefficients [..., H, D] (int64)."""
    m = dct_matrix(x.shape[-2])
    return np.rint(scale * (m @ x)).astype(np.int64)


def dequantize(q: np.ndarray, scale: float) -> np.ndarray:
    """Integer coefficients [..., H, D] -> normalised chunks [..., H, D] (float64)."""
    m = dct_matrix(q.shape[-2])
    return m.T @ (q / float(scale))
