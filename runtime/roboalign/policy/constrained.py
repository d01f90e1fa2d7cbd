"""Constrained action decoding: the generated span always spells exactly H x D FAST symbols.

A FAST chunk is valid only if its BPE tokens spell exactly H*D DCT symbols; each FAST token
spells a different number of them, so a model that is slightly off in its token count yields
an undecodable chunk (measured: about half of a tiny model's free generations, docs/stage1.md).
This logits processor keeps greedy/sampled decoding but masks what cannot lead to a valid span:

    before the span   only <ACTION_START> (force_start; stage 1 answers start with it)
    inside the span   only FAST tokens that fit in the symbols still missing; once none are
                      missing, only <ACTION_END>
    after the span    only the end-of-turn token

It guarantees the shape, not the values: a decode can still be refused as out of range. Stage 2
samples freely (its reward must see malformed spans), so this is for serving and evaluation.
"""
from __future__ import annotations

import numpy as np
import torch

_BEFORE, _INSIDE, _AFTER = 0, 1, 2


def symbols_per_fast_token(fast) -> np.ndarray:
    """[V] number of DCT symbols each FAST id spells (from the FAST BPE vocabulary)."""
    if hasattr(fast, "symbols_per_token"):
        return np.asarray(fast.symbols_per_token(), dtype=np.int64)
    return np.asarray([len(t) for t in fast._bpe.id_to_text], dtype=np.int64)


class ActionSpanConstraint:
    """transformers LogitsProcessor enforcing one well-formed span of n_symbols symbols.

    prompt_length: input length when generation starts (the constraint reads only new ids).
    eos_id: end-of-turn id forced after <ACTION_END>.
    """

    def __init__(self, bridge, n_symbols: int, prompt_length: int, eos_id: int, force_start: bool = True):
        bridge._require_bound()
        self.start_id, self.end_id, self.eos_id = int(bridge.start_id), int(bridge.end_id), int(eos_id)
        self.n_symbols = int(n_symbols)
        self.prompt_length = int(prompt_length)
        self.force_start = force_start
        counts = symbols_per_fast_token(bridge.fast)
        llm_ids = np.asarray(bridge.fast_to_llm(range(bridge.num_fast)), dtype=np.int64)
        self._act_ids = torch.as_tensor(llm_ids)
        self._act_counts = torch.as_tensor(counts)
        self._count_of = {int(i): int(c) for i, c in zip(llm_ids, counts)}
        self._phase: list[int] | None = None
        self._used: list[int] = []
        self._seen = -1

    def _state(self, new_ids: list[int]) -> tuple[int, int]:
        """(phase, symbols emitted inside the span) of one row from its generated ids."""
        if self.start_id not in new_ids:
            return _BEFORE, 0
        after_start = new_ids[new_ids.index(self.start_id) + 1:]
        if self.end_id in after_start:
            return _AFTER, 0
        return _INSIDE, sum(self._count_of.get(i, 0) for i in after_start)

    def _update(self, input_ids: torch.LongTensor) -> None:
        """Advance the per-row state by the newest token (rescan when called out of sequence)."""
        n_new = input_ids.shape[1] - self.prompt_length
        if self._phase is None or n_new != self._seen + 1 or len(self._phase) != input_ids.shape[0]:
            states = [self._state(row[self.prompt_length:].tolist()) for row in input_ids]
            self._phase = [p for p, _ in states]
            self._used = [u for _, u in states]
        elif n_new > 0:
            for row, tok in enumerate(input_ids[:, -1].tolist()):
                if self._phase[row] == _BEFORE and tok == self.start_id:
                    self._phase[row] = _INSIDE
                elif self._phase[row] == _INSIDE:
                    if tok == self.end_id:
                        self._phase[row] = _AFTER
                    else:
                        self._used[row] += self._count_of.get(tok, 0)
        self._seen = n_new

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._update(input_ids)
        dev = scores.device
        phase = torch.tensor(self._phase, device=dev)
        left = self.n_symbols - torch.tensor(self._used, device=dev)
        allow = torch.zeros_like(scores, dtype=torch.bool)
        act_ids, counts = self._act_ids.to(dev), self._act_counts.to(dev)
        inside = phase == _INSIDE
        # Inside the span: FAST tokens that fit the symbols still missing, END once none are.
        fits = inside[:, None] & (counts[None, :] <= left[:, None])
        allow[:, act_ids] = fits
        allow[:, self.end_id] = inside & (left <= 0)
        allow[:, self.eos_id] |= phase == _AFTER
        before = phase == _BEFORE
        if self.force_start:
            allow[:, self.start_id] |= before
        else:
            allow |= before[:, None]
        return scores.masked_fill(~allow, float("-inf"))
