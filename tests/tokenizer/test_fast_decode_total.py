"""decode never raises in default mode, says why a sequence is refused, and strict mode raises."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.tokenizer import DecodeResult, FastTokenizer

H, D = 16, 7  # the shape the shared `fitted` tokenizer (conftest.py) was fitted on
SETTINGS = settings(max_examples=150, deadline=None)

any_int = st.one_of(st.integers(-5, 1100), st.integers(-(2**70), 2**70))
junk = st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(),
                 st.lists(st.integers(0, 5), max_size=2))
token_lists = st.one_of(
    st.lists(st.integers(0, 1023), max_size=300),        # in-vocabulary, any length
    st.lists(any_int, max_size=80),                        # negative / huge ids
    st.lists(st.one_of(any_int, junk), max_size=20),       # mixed garbage
    junk,                                                  # not a sequence at all
)


@SETTINGS
@given(tokens=token_lists)
def test_decode_of_arbitrary_input_never_raises_and_has_the_requested_shape(fitted, tokens):
    res = fitted.decode(tokens, H, D)
    assert isinstance(res, DecodeResult)
    assert res.actions.shape == (H, D) and res.normalized.shape == (H, D)
    assert np.all(np.isfinite(res.actions))
    assert np.all(np.abs(res.normalized) <= 1.0)
    assert res.valid == (res.code == "ok") and res.valid == (res.reason == "")


@SETTINGS
@given(tokens=token_lists)
def test_strict_decode_raises_value_error_exactly_when_invalid(fitted, tokens):
    res = fitted.decode(tokens, H, D)
    if res.valid:
        assert fitted.decode(tokens, H, D, strict=True).valid
    else:
        with pytest.raises(ValueError, match=res.code):
            fitted.decode(tokens, H, D, strict=True)


@settings(max_examples=40, deadline=None)
@given(horizon=st.one_of(st.integers(-3, 100), st.none(), st.text(max_size=2), st.floats()),
       dim=st.one_of(st.integers(-3, 20), st.none()))
def test_bad_horizon_or_dim_is_refused_not_raised(fitted, horizon, dim):
    res = fitted.decode([1, 2, 3], horizon, dim)
    if not (isinstance(horizon, int) and 1 <= horizon <= 64 and dim == D):
        assert not res.valid and res.code == "bad_shape"


def test_every_real_encoding_decodes_valid(fitted, held_out_chunks):
    assert all(r.valid for r in fitted.decode_batch(fitted.encode_batch(held_out_chunks), H, D))


@pytest.mark.parametrize("tokens, code", [
    ([], "empty"),
    (np.array([], dtype=np.int64), "empty"),
    ([-1], "unknown_token"),
    ([10**30], "unknown_token"),
    ([1.5, 2.0], "not_integers"),
    ("abc", "not_integers"),
    (None, "not_integers"),
    ([[1, 2], [3, 4]], "not_integers"),
])
def test_malformed_inputs_get_their_reason_code(fitted, tokens, code):
    res = fitted.decode(tokens, H, D)
    assert not res.valid and res.code == code and res.reason


def test_truncated_and_overlong_sequences_are_refused(fitted, held_out_chunks):
    ids = fitted.encode(held_out_chunks[0])
    short = fitted.decode(ids[:-1], H, D)
    assert not short.valid and short.code == "too_short"
    long = fitted.decode(ids + ids, H, D)
    assert not long.valid and long.code == "too_long"
    # best effort for an overlong sequence: the first H*D symbols, i.e. the original chunk
    np.testing.assert_allclose(long.normalized, fitted.decode(ids, H, D).normalized)


def test_sequence_decoding_far_outside_the_normalised_range_is_refused(fitted):
    """All-max DC coefficients spell a chunk no in-range input can produce."""
    r = fitted._bpe.radius
    q = np.zeros((H, D), dtype=np.int64)
    q[0, :] = r  # DC of every dim at its maximum: |x| = r / (scale * sqrt(H)) > 1 + bound
    ids = fitted._bpe.encode_text(fitted._bpe.to_text(q.reshape(-1)))
    res = fitted.decode(ids, H, D)
    assert not res.valid and res.code == "out_of_range"
    assert np.all(res.normalized == 1.0)  # best effort is clipped into range


def test_unknown_ids_are_dropped_and_reported_with_the_rest_decoded(fitted, held_out_chunks):
    ids = fitted.encode(held_out_chunks[1])
    res = fitted.decode(ids[:1] + [99999] + ids[1:], H, D)
    assert not res.valid and res.code == "unknown_token" and "99999" in res.reason
    np.testing.assert_allclose(res.actions, fitted.decode(ids, H, D).actions)


def test_unfitted_tokenizer_refuses_to_decode_and_to_encode():
    tok = FastTokenizer()
    assert tok.decode([1, 2], H, D).code == "not_fitted"
    with pytest.raises(RuntimeError, match="fit"):
        tok.encode(np.zeros((H, D)))


def test_encode_rejects_bad_chunks_with_a_readable_error(fitted):
    with pytest.raises(ValueError, match="NaN"):
        fitted.encode(np.full((H, D), np.nan))
    with pytest.raises(ValueError, match="dims"):
        fitted.encode(np.zeros((H, D + 1)))
    with pytest.raises(ValueError, match="max_horizon"):
        fitted.encode(np.zeros((65, D)))


def test_vocab_too_small_for_the_symbol_alphabet_is_refused_up_front():
    with pytest.raises(ValueError, match="vocab_size"):
        FastTokenizer(scale=100.0, vocab_size=1024, max_horizon=64)
