"""Constrained action decoding: any scores lead to a span of exactly H x D symbols."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from roboalign.policy.constrained import ActionSpanConstraint, symbols_per_fast_token
from roboalign.tokenizer import FastTokenizer
from roboalign.tokenizer.bridge import ActionTokenBridge
from roboalign.tokenizer.synthetic import smooth_chunks

H, D = 8, 3


@pytest.fixture(scope="module")
def bridged(tiny_qwen25):
    fast = FastTokenizer(vocab_size=200, max_horizon=H).fit(smooth_chunks(500, H, D, seed=1))
    bridge = ActionTokenBridge(fast)
    tok = tiny_qwen25.tokenizer
    bridge.attach(tok)  # tokenizer only: the scores below are synthetic
    return bridge, tok


def _rollout(bridge, tok, seed: int, steps: int = 150, force_start: bool = True):
    """Greedy decoding on random scores through the constraint; returns the new ids per row."""
    rng = np.random.default_rng(seed)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    prompt = torch.zeros((4, 5), dtype=torch.long)
    proc = ActionSpanConstraint(bridge, H * D, prompt.shape[1], eos, force_start=force_start)
    ids = prompt
    for _ in range(steps):
        scores = torch.as_tensor(rng.normal(size=(4, len(tok))), dtype=torch.float32)
        nxt = proc(ids, scores).argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    return [row[5:].tolist() for row in ids], eos


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scores_always_give_one_span_of_exactly_h_times_d_symbols(bridged, seed):
    bridge, tok = bridged
    rows, eos = _rollout(bridge, tok, seed)
    counts = symbols_per_fast_token(bridge.fast)
    for row in rows:
        assert row[0] == bridge.start_id
        end = row.index(bridge.end_id)
        fast_ids = bridge.llm_to_fast(row[1:end])
        assert min(fast_ids) >= 0 and int(sum(counts[f] for f in fast_ids)) == H * D
        assert set(row[end + 1:]) == {eos}
        assert bridge.decode_ids(row, H, D).code in ("ok", "out_of_range")  # shape is always right


def test_symbol_counts_match_what_encode_spells(bridged):
    bridge, _ = bridged
    counts = symbols_per_fast_token(bridge.fast)
    x = smooth_chunks(20, H, D, seed=5)
    for chunk in x:
        assert int(counts[bridge.fast.encode(chunk)].sum()) == H * D


def test_without_force_start_text_before_the_span_is_free(bridged):
    bridge, tok = bridged
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    proc = ActionSpanConstraint(bridge, H * D, 2, eos, force_start=False)
    scores = torch.zeros((1, len(tok)))
    out = proc(torch.zeros((1, 2), dtype=torch.long), scores)
    assert torch.isfinite(out).all()
