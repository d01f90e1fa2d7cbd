"""How good a fitted FAST tokenizer is on a set of chunks, against the per-step 256-bin baseline.

Everything `roboalign tokenizer stats` prints: round-trip error per dimension (physical units
and normalised), tokens per chunk, compression against H*D per-step tokens, and how often a
random token string is (correctly) refused by decode.
"""
from __future__ import annotations

import collections

import numpy as np

from roboalign.tokenizer.fast import FastTokenizer
from roboalign.tokenizer.naive import UniformBinTokenizer


def _per_dim(err: np.ndarray) -> dict:
    """err [N, H, D] abs errors -> per-dimension mean / max / rmse (lists, one per dim)."""
    flat = err.reshape(-1, err.shape[-1])
    return {"mean_abs": flat.mean(0).tolist(), "max_abs": flat.max(0).tolist(),
            "rmse": np.sqrt((flat ** 2).mean(0)).tolist()}


def random_token_invalid_rate(tok: FastTokenizer, horizon: int, dim: int, trials: int = 2000,
                              max_len: int = 64, seed: int = 0) -> dict:
    """Decode uniformly random id strings (length 1..max_len): how many are refused, and why."""
    rng = np.random.default_rng(seed)
    codes: collections.Counter = collections.Counter()
    for _ in range(trials):
        n = int(rng.integers(1, max_len + 1))
        codes[tok.decode(rng.integers(0, tok.vocab_size, n).tolist(), horizon, dim).code] += 1
    invalid = trials - codes.get("ok", 0)
    return {"trials": trials, "max_len": max_len, "invalid_rate": invalid / trials,
            "codes": dict(sorted(codes.items()))}


def tokenizer_report(tok: FastTokenizer, chunks: np.ndarray, random_trials: int = 2000,
                     seed: int = 0) -> dict:
    """Round-trip and compression report of `tok` on chunks [N, H, D] (physical units)."""
    x = np.asarray(chunks, dtype=np.float64)
    n, h, d = x.shape
    ids = tok.encode_batch(x)
    res = tok.decode_batch(ids, h, d)
    rec = np.stack([r.actions for r in res])
    rec_n = np.stack([r.normalized for r in res])
    xn = tok.normalizer.normalize(x)
    lengths = np.array([len(i) for i in ids])
    naive = UniformBinTokenizer(tok.normalizer)
    naive_n = naive.decode_normalized(naive.encode_normalized(xn), h, d)
    span = tok.normalizer.q_high - tok.normalizer.q_low
    clipped = float(np.mean((x < tok.normalizer.q_low) | (x > tok.normalizer.q_high)))
    return {
        "num_chunks": n, "horizon": h, "dim": d,
        "tokenizer": {"scale": tok.scale, "vocab_size": tok.vocab_size,
                      "norm_stats_digest": tok.normalizer.digest()},
        "tokens_per_chunk": {"mean": float(lengths.mean()), "max": int(lengths.max()),
                             "min": int(lengths.min()), "p99": float(np.percentile(lengths, 99))},
        "naive_tokens_per_chunk": h * d,
        "compression_vs_naive": float(h * d / lengths.mean()),
        "invalid_decodes_of_real_chunks": int(sum(not r.valid for r in res)),
        "quantization_bound_normalized": tok.bound(h),
        # Normalised error isolates the tokenizer (quantisation only); physical error also
        # holds the normaliser's clipping of values beyond the 1st/99th percentiles.
        "roundtrip_error_normalized": _per_dim(np.abs(rec_n - xn)),
        "roundtrip_error_physical": _per_dim(np.abs(rec - x)),
        # Split of the physical error: what the tokenizer loses vs what the clipping loses.
        "roundtrip_error_physical_vs_clipped_input": _per_dim(np.abs(rec - tok.normalizer.unnormalize(xn))),
        "normalizer_clip_error_physical": _per_dim(np.abs(tok.normalizer.unnormalize(xn) - x)),
        "roundtrip_error_physical_relative_to_range": _per_dim(
            np.abs(rec - x) / np.where(span > 0, span, 1.0)),
        "fraction_values_clipped_by_normalizer": clipped,
        "naive_roundtrip_error_normalized": _per_dim(np.abs(naive_n - xn)),
        "random_tokens": random_token_invalid_rate(tok, h, d, random_trials,
                                                   max_len=max(2, int(2 * lengths.max())), seed=seed),
    }


def summary_lines(rep: dict) -> list[str]:
    """Short human-readable view of a report."""
    en, ep = rep["roundtrip_error_normalized"], rep["roundtrip_error_physical"]
    fmt = lambda v: "[" + ", ".join(f"{a:.4f}" for a in v) + "]"  # noqa: E731
    return [
        f"chunks: {rep['num_chunks']} x H={rep['horizon']} x D={rep['dim']}, vocab {rep['tokenizer']['vocab_size']}, "
        f"scale {rep['tokenizer']['scale']}",
        f"tokens/chunk: mean {rep['tokens_per_chunk']['mean']:.2f}, max {rep['tokens_per_chunk']['max']} "
        f"(naive per-step: {rep['naive_tokens_per_chunk']}) -> compression x{rep['compression_vs_naive']:.2f}",
        f"round-trip |err| normalised, mean per dim: {fmt(en['mean_abs'])}",
        f"round-trip |err| normalised, max per dim:  {fmt(en['max_abs'])} (bound {rep['quantization_bound_normalized']:.4f})",
        f"round-trip |err| physical, mean per dim:   {fmt(ep['mean_abs'])}",
        f"round-trip |err| physical, max per dim:    {fmt(ep['max_abs'])}",
        f"  of which normaliser clipping, max per dim: {fmt(rep['normalizer_clip_error_physical']['max_abs'])} "
        f"({100 * rep['fraction_values_clipped_by_normalizer']:.2f}% of values clipped)",
        f"invalid decodes of real chunks: {rep['invalid_decodes_of_real_chunks']}; random token strings refused: "
        f"{100 * rep['random_tokens']['invalid_rate']:.2f}% {rep['random_tokens']['codes']}",
    ]
