"""The symbol-prefix reward (policy/completion.symbol_prefix_reward): properties, guards, TRL wiring."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.policy.completion import symbol_prefix_reward
from roboalign.training.rewards import RewardFunctions, RewardWeights

symbols = st.lists(st.integers(-40, 40), min_size=1, max_size=24)


@settings(max_examples=200, deadline=None)
@given(symbols, st.data(), st.integers(0, 5))
def test_reward_lies_in_0_1_and_is_1_only_for_an_exact_match(target, data, tol):
    gen = data.draw(st.lists(st.integers(-40, 40), min_size=len(target), max_size=len(target)))
    r = symbol_prefix_reward(np.array(gen), np.array(target), tol)
    assert 0.0 <= r <= 1.0
    assert (r == 1.0) == (gen == target)


@settings(max_examples=200, deadline=None)
@given(symbols, st.data(), st.integers(0, 4))
def test_moving_a_symbol_closer_to_the_target_never_lowers_the_reward(target, data, tol):
    gen = data.draw(st.lists(st.integers(-40, 40), min_size=len(target), max_size=len(target)))
    i = data.draw(st.integers(0, len(target) - 1))
    closer = list(gen)
    closer[i] += int(np.sign(target[i] - gen[i]))
    assert symbol_prefix_reward(np.array(closer), np.array(target), tol) >= symbol_prefix_reward(
        np.array(gen), np.array(target), tol)


@settings(max_examples=100, deadline=None)
@given(symbols, st.data())
def test_longer_agreeing_prefix_scores_more(target, data):
    k = data.draw(st.integers(0, len(target) - 1))
    far = [t + 100 for t in target]
    shorter = target[:k] + far[k:]
    longer = target[:k + 1] + far[k + 1:]
    assert symbol_prefix_reward(np.array(longer), np.array(target)) > symbol_prefix_reward(
        np.array(shorter), np.array(target))
    # tolerance 0 is the exact symbol prefix k / m
    assert symbol_prefix_reward(np.array(shorter), np.array(target), 0) == pytest.approx(k / len(target))


def test_invalid_spans_score_zero_whatever_they_hold():
    t = np.array([3, 1, 0, 0])
    assert symbol_prefix_reward(None, t) == 0.0
    assert symbol_prefix_reward(np.array([3, 1, 0]), t) == 0.0  # too short: would not decode
    assert symbol_prefix_reward(np.array([3, 1, 0, 0, 0]), t) == 0.0  # too long
    assert symbol_prefix_reward(np.array([30, 1, 0, 0]), t) == 0.0  # decodable, first symbol far off
    assert symbol_prefix_reward(np.array([4, 1, 0, 0]), t, tolerance=2) == pytest.approx((2 / 3 + 3) / 4)


VOCAB = {0: "<|im_end|>", 1: "<ACTION_START>", 2: "<ACTION_END>", 11: "<a11>", 12: "<a12>", 13: "<a13>"}


def _rewards(weights):
    # toy reader: token 1x spells the symbol x; the target spells two symbols
    return RewardFunctions(decode_text=lambda ids: "".join(VOCAB[i] for i in ids), start_id=1, end_id=2,
                           stop_ids=[0], span_symbols=lambda ids: np.array([i - 10 for i in ids]), weights=weights)


def test_symbol_component_scores_closed_spans_and_zeroes_unclosed_or_missing_ones():
    funcs, weights = _rewards(RewardWeights(format=0.5, action=0.0, symbol=0.5)).functions()
    assert [f.__name__ for f in funcs] == ["format", "symbol"] and weights == [0.5, 0.5]
    logged = {}
    out = funcs[1](completion_ids=[[1, 11, 12, 2, 0], [1, 11, 13, 2], [1, 11, 12], [11, 12]],
                   target_ids=[[11, 12]] * 4, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out[0] == 1.0 and out[1] == pytest.approx((1 + 2 / 3) / 2) and out[2] == 0.0 and out[3] == 0.0
    assert logged["action/symbol_mean"] == pytest.approx(sum(out) / 4)


def test_symbol_weight_without_a_reader_is_a_readable_error():
    with pytest.raises(ValueError, match="span_symbols"):
        RewardFunctions(decode_text=str, start_id=1, end_id=2, weights=RewardWeights(symbol=1.0))
    with pytest.raises(ValueError, match="symbol_tolerance"):
        RewardWeights(symbol=1.0, symbol_tolerance=-1)


def test_fast_tokenizer_symbols_round_trip_its_encoding():
    from roboalign.tokenizer import FastTokenizer

    rng = np.random.default_rng(0)
    chunks = np.cumsum(rng.normal(0, 0.05, size=(64, 8, 3)), axis=1)
    fast = FastTokenizer(vocab_size=128, max_horizon=16).fit(chunks)
    ids = fast.encode(chunks[0])
    sym = fast.symbols(ids)
    assert sym is not None and sym.size == 8 * 3
    assert fast.symbols([10 ** 6]) is None
