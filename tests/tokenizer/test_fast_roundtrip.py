"""decode(encode(x)) stays within the derived quantisation bound, for any horizon and dimension."""
from __future__ import annotations

import math

import numpy as np
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from roboalign.tokenizer import FastTokenizer, quantization_bound
from roboalign.tokenizer.dct import dct_matrix, symbol_radius

H, D = 16, 7  # the shape the shared `fitted` tokenizer (conftest.py) was fitted on

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def normalized_chunks(draw, max_h=64, max_d=16):
    h = draw(st.integers(1, max_h))
    d = draw(st.integers(1, max_d))
    elems = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
    return draw(arrays(np.float64, (h, d), elements=elems))


def test_dct_matrix_is_scipy_orthonormal_dct_ii():
    for h in (1, 2, 7, 16, 50, 64):
        x = np.random.default_rng(h).normal(size=(h, 3))
        np.testing.assert_allclose(dct_matrix(h) @ x, scipy.fft.dct(x, norm="ortho", axis=0), atol=1e-12)
        np.testing.assert_allclose(dct_matrix(h).T @ dct_matrix(h), np.eye(h), atol=1e-12)


def test_bound_is_below_its_closed_form_and_alphabet_covers_extreme_chunks():
    for h in range(1, 65):
        assert quantization_bound(h, 10.0) <= 0.5 * math.sqrt(h) / 10.0 + 1e-12
        # A constant chunk at +-1 puts the whole energy into the DC coefficient: sqrt(H).
        extreme = np.rint(10.0 * dct_matrix(h) @ np.ones((h, 1)))
        assert np.abs(extreme).max() <= symbol_radius(64, 10.0)


@SETTINGS
@given(x=normalized_chunks())
def test_normalized_roundtrip_within_quantization_bound_any_shape(fitted, x):
    h, d = x.shape
    res = fitted.decode_normalized(fitted.encode_normalized(x), h, d)
    assert res.valid, res.reason
    assert res.normalized.shape == (h, d)
    assert np.abs(res.normalized - x).max() <= fitted.bound(h) + 1e-9


@SETTINGS
@given(x=normalized_chunks(max_h=32, max_d=8), scale=st.sampled_from([2.0, 10.0, 25.0]))
def test_roundtrip_bound_holds_for_other_scales(train_chunks, x, scale):
    tok = _scaled_tokenizers(train_chunks)[scale]
    h, d = x.shape
    res = tok.decode_normalized(tok.encode_normalized(x), h, d)
    assert res.valid, res.reason
    assert np.abs(res.normalized - x).max() <= quantization_bound(h, scale) + 1e-9


_CACHE: dict = {}


def _scaled_tokenizers(chunks):
    if not _CACHE:
        for s in (2.0, 10.0, 25.0):
            _CACHE[s] = FastTokenizer(scale=s, vocab_size=2048, max_horizon=32).fit(chunks[:500])
    return _CACHE


def test_physical_roundtrip_error_is_bound_times_half_range_for_in_range_values(fitted, held_out_chunks):
    n = fitted.normalizer
    x = n.unnormalize(n.normalize(held_out_chunks))  # in range: the normaliser clips nothing
    res = fitted.decode_batch(fitted.encode_batch(x), H, D)
    rec = np.stack([r.actions for r in res])
    assert all(r.valid for r in res)
    half_span = (n.q_high - n.q_low) / 2
    assert np.all(np.abs(rec - x) <= fitted.bound(H) * half_span + 1e-9)


def test_batch_encode_and_decode_equal_single_calls(fitted, held_out_chunks):
    batch = fitted.encode_batch(held_out_chunks[:20])
    assert batch == [fitted.encode(c) for c in held_out_chunks[:20]]
    many = fitted.decode_batch(batch, H, D)
    for ids, r in zip(batch, many):
        one = fitted.decode(ids, H, D)
        np.testing.assert_array_equal(one.actions, r.actions)
        assert one.valid == r.valid


def test_frequency_major_truncation_keeps_the_low_frequencies(fitted, held_out_chunks):
    """Dropping the last tokens loses high frequencies only: the chunk stays close, but is invalid."""
    x = fitted.normalizer.normalize(held_out_chunks[0])
    ids = fitted.encode_normalized(x)
    res = fitted.decode_normalized(ids[: max(1, len(ids) // 2)], H, D)
    assert not res.valid and res.code == "too_short"
    assert np.abs(res.normalized - x).mean() < 0.25


def test_smooth_chunks_compress_well_against_per_step_tokens(fitted, held_out_chunks):
    lengths = [len(t) for t in fitted.encode_batch(held_out_chunks)]
    assert H * D / np.mean(lengths) > 3.0


def test_cached_normalisation_is_bit_identical_to_norm_stats(fitted, held_out_chunks):
    """The tokenizer's fast path must agree exactly with roboalign.core.NormStats."""
    x = held_out_chunks * 1.5  # pushes some values beyond the quantiles, so clipping happens
    n = fitted.normalizer
    y = fitted._normalize(x)
    np.testing.assert_array_equal(y, n.normalize(x))
    np.testing.assert_array_equal(fitted._unnormalize(y), n.unnormalize(y))
    assert fitted.encode(x[0]) == fitted.encode_normalized(n.normalize(x[0]))


def test_constant_dimension_normalises_to_zero_and_decodes_to_its_value(train_chunks):
    x = train_chunks[:400].copy()
    x[..., 2] = 0.7  # e.g. a joint that never moved in the demonstrations
    tok = FastTokenizer(vocab_size=512).fit(x)
    res = tok.decode(tok.encode(x[0]), H, D)
    assert res.valid and np.all(res.normalized[:, 2] == 0.0) and np.all(res.actions[:, 2] == 0.7)
