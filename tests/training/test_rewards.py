"""Stage-2 reward values on hand-made completions: every edge case the docs define."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.policy.completion import decoded_l1_reward, find_action_span, format_reward_text, prefix_action_reward
from roboalign.training.rewards import RewardFunctions, RewardWeights

GOOD = "<think>the red block is left of the gripper</think><answer><ACTION_START><a1><a2><ACTION_END></answer>"


# -- format ------------------------------------------------------------------------------

def test_format_well_formed_completion_scores_one():
    assert format_reward_text(GOOD) == 1.0


def test_format_allows_whitespace_between_blocks_and_trailing_eos():
    text = "  <think>\nreach\n</think>\n<answer> <ACTION_START><a1><ACTION_END> </answer>\n<|im_end|><|endoftext|>"
    assert format_reward_text(text, end_strings=["<|im_end|>", "<|endoftext|>"]) == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "<think>   </think><answer><ACTION_START><a1><ACTION_END></answer>",  # empty reasoning
        "<answer><ACTION_START><a1><ACTION_END></answer>",  # no think block
        "<think>r</think><ACTION_START><a1><ACTION_END>",  # no answer block
        "<think>r</think><answer><ACTION_START><a1></answer>",  # no end marker
        "<answer><ACTION_START><a1><ACTION_END></answer><think>r</think>",  # wrong order
        "<think>r</think><think>s</think><answer><ACTION_START><a1><ACTION_END></answer>",  # two thinks
        "<think>r</think><answer><ACTION_START><a1><ACTION_END><ACTION_START><ACTION_END></answer>",  # two spans
        "<think>r</think>junk<answer><ACTION_START><a1><ACTION_END></answer>",  # text between blocks
        "<think>r</think><answer><ACTION_START><a1><ACTION_END></answer> trailing words",
        "",
    ],
)
def test_format_malformed_completion_scores_zero(text):
    assert format_reward_text(text) == 0.0


# -- prefix action reward -------------------------------------------------------------------

T = [11, 12, 13, 14]


def test_exact_match_closed_scores_one():
    assert prefix_action_reward(T, T, closed=True) == 1.0


def test_partial_prefix_scores_fraction_of_target_length():
    assert prefix_action_reward([11, 12, 99, 14], T) == pytest.approx(2 / 4)
    assert prefix_action_reward([11], T) == pytest.approx(1 / 4)


def test_wrong_first_token_scores_zero_even_if_rest_matches():
    assert prefix_action_reward([99, 12, 13, 14], T) == 0.0


def test_empty_generation_scores_zero():
    assert prefix_action_reward([], T) == 0.0


def test_longer_than_target_loses_full_credit():
    # 1.0 only when nothing but the end marker follows the m correct tokens
    assert prefix_action_reward(T + [15, 16], T) == pytest.approx(4 / 6)
    assert prefix_action_reward(T + [15], T) < 1.0


def test_missing_end_marker_keeps_prefix_but_never_full_credit():
    assert prefix_action_reward(T, T, closed=False) == pytest.approx(3 / 4)
    assert prefix_action_reward([11, 12], T, closed=False) == pytest.approx(2 / 4)
    assert prefix_action_reward([11], [11], closed=False) == 0.0


def test_junk_token_inside_span_ends_the_prefix():
    junk = 500  # e.g. a text token
    assert prefix_action_reward([11, junk, 13, 14], T) == pytest.approx(1 / 4)


def test_empty_target_rewards_only_empty_closed_span():
    assert prefix_action_reward([], [], closed=True) == 1.0
    assert prefix_action_reward([], [], closed=False) == 0.0
    assert prefix_action_reward([11], [], closed=True) == 0.0


def test_reward_is_bounded_in_unit_interval():
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = rng.integers(10, 14, size=rng.integers(0, 8)).tolist()
        t = rng.integers(10, 14, size=rng.integers(0, 8)).tolist()
        r = prefix_action_reward(g, t, closed=bool(rng.integers(2)))
        assert 0.0 <= r <= 1.0


# -- action span parsing ----------------------------------------------------------------------

S, E, EOS = 1, 2, 0


def test_span_between_markers():
    span = find_action_span([7, S, 11, 12, E, 8], S, E)
    assert span.found and span.closed and span.tokens == (11, 12)


def test_span_without_end_marker_runs_to_the_end_minus_stop_tokens():
    span = find_action_span([S, 11, 12, EOS, EOS], S, E, stop_ids=[EOS])
    assert span.found and not span.closed and span.tokens == (11, 12)


def test_no_start_marker_means_no_span():
    assert not find_action_span([11, 12, E], S, E).found


def test_second_start_marker_inside_span_is_junk():
    span = find_action_span([S, 11, S, 12, E], S, E)
    assert span.tokens == (11, S, 12)
    assert prefix_action_reward(span.tokens, [11, 12]) == pytest.approx(1 / 3)


# -- decoded L1 reward --------------------------------------------------------------------------

def test_l1_reward_perfect_half_and_clipped():
    t = np.zeros((4, 2))
    assert decoded_l1_reward(t, t) == 1.0
    assert decoded_l1_reward(t + 0.5, t, scale=1.0) == pytest.approx(0.5)
    assert decoded_l1_reward(t + 1.5, t, scale=1.0) == 0.0


def test_l1_reward_zero_for_undecodable_or_wrong_shape():
    t = np.zeros((4, 2))
    assert decoded_l1_reward(None, t) == 0.0
    assert decoded_l1_reward(np.zeros((3, 2)), t) == 0.0
    assert decoded_l1_reward(np.full((4, 2), np.nan), t) == 0.0


# -- TRL adapter ----------------------------------------------------------------------------------

VOCAB = {0: "<|im_end|>", 1: "<ACTION_START>", 2: "<ACTION_END>", 3: "<think>", 4: "</think>",
         5: "<answer>", 6: "</answer>", 7: "reason ", 11: "<a11>", 12: "<a12>", 13: "<a13>"}


def _decode_text(ids):
    return "".join(VOCAB[i] for i in ids)


def _decode_span(ids):
    # a toy FAST decoder: each token is one action value; valid only for two tokens
    return np.array([[(i - 12) / 2] for i in ids]) if len(ids) == 2 else None


def _rewards(weights=RewardWeights()):
    return RewardFunctions(decode_text=_decode_text, start_id=1, end_id=2, stop_ids=[0],
                           end_strings=["<|im_end|>"], decode_span=_decode_span, weights=weights)


def test_trl_functions_follow_the_reward_signature_and_default_weights():
    funcs, weights = _rewards().functions()
    assert [f.__name__ for f in funcs] == ["format", "action"] and weights == [0.5, 0.5]
    good = [3, 7, 4, 5, 1, 11, 12, 2, 6, 0]
    no_span = [3, 7, 4, 5, 6, 0]
    logged = {}
    kwargs = dict(prompts=["p", "p"], completions=["", ""], completion_ids=[good, no_span],
                  target_ids=[[11, 12], [11, 12]], target_actions=[[[-0.5], [0.0]], [[-0.5], [0.0]]],
                  log_metric=lambda k, v: logged.__setitem__(k, v), trainer_state=None)
    assert funcs[0](**kwargs) == [1.0, 0.0]
    assert funcs[1](**kwargs) == [1.0, 0.0]
    assert logged == {"action/invalid_rate": 0.5, "action/exact_rate": 0.5, "action/valid_rate": 0.5,
                      "action/prefix_mean": 0.5}


def test_l1_component_uses_decoded_chunk():
    funcs, weights = _rewards(RewardWeights(format=0.5, action=0.0, l1=0.5)).functions()
    assert [f.__name__ for f in funcs] == ["format", "l1"]
    logged = {}
    out = funcs[1](completion_ids=[[1, 11, 12, 2], [1, 13, 13, 2], [1, 11, 2]],
                   target_ids=[[11, 12]] * 3, target_actions=[[[-0.5], [0.0]]] * 3,
                   log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out[0] == 1.0 and out[1] == pytest.approx(1 - 0.75) and out[2] == 0.0
    # with the prefix reward unweighted, the L1 component still logs the action metrics
    assert logged["action/valid_rate"] == pytest.approx(2 / 3)
    assert logged["action/prefix_mean"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)


def test_l1_weight_without_decoder_is_a_readable_error():
    with pytest.raises(ValueError, match="decode_span"):
        RewardFunctions(decode_text=_decode_text, start_id=1, end_id=2, weights=RewardWeights(l1=1.0))
