"""Stage-2 (RoboAlign) rewards for TRL: format, prefix action accuracy, decoded-action L1.

The measures themselves, and their edge cases, are roboalign.policy.completion (eval scores
held-out frames with the same code). `RewardFunctions` weights them into the paper's
r = (r_format + r_action) / 2 (plus an optional L1 term) in TRL's reward-function signature
`f(completions, completion_ids=..., **dataset_columns) -> list[float]`, reading token ids, not
TRL's `completions` text (see policy/completion.py for why).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from roboalign.policy.completion import (
    decoded_l1_reward,
    find_action_span,
    format_reward_text,
    span_action_reward,
    symbol_prefix_reward,
)

# ---------------------------------------------------------------------------------------
# TRL adapter
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RewardWeights:
    """Weights of the combined reward r = sum(w_i * r_i). Default: the paper's (f + a) / 2."""

    format: float = 0.5
    action: float = 0.5
    l1: float = 0.0
    l1_scale: float = 1.0  # normalised units at which the L1 reward reaches 0
    symbol: float = 0.0  # partial credit along the DCT-symbol prefix (completion.symbol_prefix_reward)
    symbol_tolerance: int = 2  # quantisation steps within which a symbol earns partial credit

    def __post_init__(self) -> None:
        if self.l1_scale <= 0:
            raise ValueError(f"l1_scale must be > 0, got {self.l1_scale}")
        if self.symbol_tolerance < 0:
            raise ValueError(f"symbol_tolerance must be >= 0, got {self.symbol_tolerance}")
        if not any((self.format, self.action, self.l1, self.symbol)):
            raise ValueError("at least one of format, action, l1 and symbol must be non-zero")

    def active(self) -> dict[str, float]:
        pairs = (("format", self.format), ("action", self.action), ("l1", self.l1), ("symbol", self.symbol))
        return {name: w for name, w in pairs if w != 0}


@dataclasses.dataclass
class CompletionScore:
    format: float
    action: float
    l1: float
    span_found: bool
    valid_action: bool  # span closed and decodes to a chunk of the target's shape
    symbol: float = 0.0


# decode_span(llm ids between the markers) -> [T, D] normalised chunk, or None if invalid.
SpanDecoder = Callable[[Sequence[int]], "np.ndarray | None"]
# span_symbols(llm ids between the markers) -> quantised DCT symbols [m], or None if unreadable.
SymbolReader = Callable[[Sequence[int]], "np.ndarray | None"]


class RewardFunctions:
    """Scores completions for GRPO; exposes one TRL reward function per active component.

    Dataset columns used: `target_ids` (LLM ids of the target FAST tokens, markers excluded)
    and, for the L1 reward, `target_actions` ([T, D] normalised chunk as nested lists).
    Once per batch (in the first active action component, "action" or "l1") it logs, through
    TRL's `log_metric`, `action/valid_rate` (closed span that decodes), `action/invalid_rate`
    (no action span at all: scored 0), `action/exact_rate` and `action/prefix_mean` (mean
    r_action, also when r_action is not part of the reward).
    """

    def __init__(
        self,
        *,
        decode_text: Callable[[Sequence[int]], str],
        start_id: int,
        end_id: int,
        stop_ids: Iterable[int] = (),
        end_strings: Iterable[str] = (),
        decode_span: SpanDecoder | None = None,
        span_symbols: SymbolReader | None = None,
        weights: RewardWeights = RewardWeights(),
    ) -> None:
        self.decode_text = decode_text
        self.start_id, self.end_id = int(start_id), int(end_id)
        self.stop_ids = tuple(int(s) for s in stop_ids)
        self.end_strings = tuple(end_strings)
        self.decode_span = decode_span
        self.span_symbols = span_symbols
        self.weights = weights
        if weights.l1 and decode_span is None:
            raise ValueError("RewardFunctions: the L1 reward (weights.l1 != 0) needs decode_span")
        if weights.symbol and span_symbols is None:
            raise ValueError("RewardFunctions: the symbol reward (weights.symbol != 0) needs span_symbols")

    def score(
        self, completion_ids: Sequence[int], target_ids: Sequence[int], target_actions: Any = None
    ) -> CompletionScore:
        span = find_action_span(completion_ids, self.start_id, self.end_id, self.stop_ids)
        fmt = format_reward_text(self.decode_text(completion_ids), self.end_strings)
        act = span_action_reward(span, target_ids)
        chunk = None
        if span.found and span.closed and self.decode_span is not None:
            chunk = self.decode_span(span.tokens)
        valid = chunk is not None and (
            target_actions is None or np.shape(chunk) == np.shape(np.asarray(target_actions))
        )
        l1 = decoded_l1_reward(chunk, target_actions, self.weights.l1_scale) if target_actions is not None else 0.0
        sym = 0.0
        if span.found and span.closed and self.span_symbols is not None:
            sym = symbol_prefix_reward(self.span_symbols(span.tokens), self.span_symbols(target_ids),
                                       self.weights.symbol_tolerance)
        return CompletionScore(format=fmt, action=act, l1=l1, span_found=span.found, valid_action=bool(valid),
                               symbol=sym)

    def score_batch(self, completion_ids, target_ids, target_actions=None) -> list[CompletionScore]:
        if target_actions is None:
            target_actions = [None] * len(completion_ids)
        return [self.score(c, t, a) for c, t, a in zip(completion_ids, target_ids, target_actions, strict=True)]

    # -- TRL reward functions ---------------------------------------------------------

    def functions(self) -> tuple[list[RewardComponent], list[float]]:
        """(reward functions, weights) for GRPOTrainer(reward_funcs=..., args.reward_weights=...)."""
        active = self.weights.active()
        return [RewardComponent(self, name) for name in active], list(active.values())

    def _logging_component(self) -> str:
        """The action metrics are logged once per batch, by the first active action component."""
        active = self.weights.active()
        return next(n for n in ("action", "l1", "symbol") if n in active) if set(active) - {"format"} else ""

    def component(self, name: str, completion_ids, target_ids=None, target_actions=None, log_metric=None) -> list[float]:
        if name == "format":
            return [format_reward_text(self.decode_text(ids), self.end_strings) for ids in completion_ids]
        if target_ids is None:
            raise ValueError(f"reward {name!r} needs the dataset column 'target_ids' (LLM ids of the target FAST tokens)")
        use_actions = target_actions if (self.decode_span is not None) else None
        scores = self.score_batch(completion_ids, target_ids, use_actions)
        if log_metric is not None and scores and name == self._logging_component():
            n = len(scores)
            log_metric("action/invalid_rate", sum(not s.span_found for s in scores) / n)
            log_metric("action/exact_rate", sum(s.action == 1.0 for s in scores) / n)
            log_metric("action/prefix_mean", sum(s.action for s in scores) / n)  # r_action even when unweighted
            if self.span_symbols is not None:
                log_metric("action/symbol_mean", sum(s.symbol for s in scores) / n)
            if self.decode_span is not None:
                log_metric("action/valid_rate", sum(s.valid_action for s in scores) / n)
        if name == "action":
            return [s.action for s in scores]
        if name == "symbol":
            return [s.symbol for s in scores]
        if name == "l1":
            if target_actions is None:
                raise ValueError("reward 'l1' needs the dataset column 'target_actions' ([T, D] normalised chunk)")
            return [s.l1 for s in scores]
        raise ValueError(f"unknown reward component {name!r} (format, action, l1, symbol)")


class RewardComponent:
    """One named TRL reward function (TRL names its metric `rewards/<__name__>/mean`)."""

    def __init__(self, owner: RewardFunctions, name: str) -> None:
        self.owner = owner
        self.__name__ = name

    def __call__(self, completions=None, completion_ids=None, target_ids=None, target_actions=None, **kwargs):
        return self.owner.component(
            self.__name__, completion_ids, target_ids, target_actions, log_metric=kwargs.get("log_metric")
        )
