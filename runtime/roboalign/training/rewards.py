"""Stage-2 (RoboAlign) rewards: format, prefix action accuracy, decoded-action L1.

The paper's reward is r = (r_format + r_action) / 2 (../../docs/stage2.md has the table of
edge cases). Everything here is plain Python on token ids and text, so it is tested on
hand-made cases; `RewardFunctions` wraps it in TRL's reward-function signature
`f(completions, completion_ids=..., **dataset_columns) -> list[float]`.

Why token ids and not TRL's `completions` text: TRL decodes completions with
`skip_special_tokens=True`, which deletes `<ACTION_START>`, `<ACTION_END>` and every FAST
token when they are registered as special tokens. The ids are what the model emitted.

Edge cases of the prefix action reward (g = generated FAST span, t = target, m = len(t),
n = len(g), k = longest common prefix of g and t):
- no `<ACTION_START>` in the completion: the sequence is invalid, r = 0 (counted);
- k == 0 (wrong or missing first token): r = 0;
- otherwise r = k / max(m, n): a generation longer than the target keeps 1.0 only when
  nothing but `<ACTION_END>` follows the m correct tokens (extra tokens dilute the score);
- no `<ACTION_END>` after the span (truncated or rambling): the span still earns its
  prefix, but never full credit: r = min(r, (m - 1) / m);
- junk (any id that is not a FAST token, e.g. text or a second `<ACTION_START>`) inside the
  span is just a wrong token: it ends the correct prefix and counts in n;
- empty target (m == 0): r = 1 for an empty, closed span, else 0.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Iterable, Sequence

import numpy as np

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
ACTION_START, ACTION_END = "<ACTION_START>", "<ACTION_END>"
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE, ACTION_START, ACTION_END)

# Whole-completion structure; DOTALL because the reasoning may span lines. Only whitespace
# may sit between the blocks.
_FORMAT_RE = re.compile(
    r"\s*<think>(?P<think>.*?)</think>\s*<answer>\s*<ACTION_START>(?P<action>.*?)<ACTION_END>\s*</answer>\s*",
    re.DOTALL,
)


# ---------------------------------------------------------------------------------------
# Plain API
# ---------------------------------------------------------------------------------------


def format_reward_text(text: str, end_strings: Iterable[str] = ()) -> float:
    """1.0 when `text` is exactly `<think>R</think><answer><ACTION_START>…<ACTION_END></answer>`.

    R must contain a non-whitespace character; each of the six tags occurs exactly once and
    in that order; only whitespace between blocks. Trailing `end_strings` (EOS, padding
    tokens as text) are removed first, since generation stops with them.
    """
    text = strip_end_strings(text, end_strings)
    if any(text.count(tag) != 1 for tag in _TAGS):
        return 0.0
    match = _FORMAT_RE.fullmatch(text)
    if match is None or not match.group("think").strip():
        return 0.0
    return 1.0


def strip_end_strings(text: str, end_strings: Iterable[str]) -> str:
    """Remove any run of the given strings (and whitespace) from the end of text."""
    ends = [s for s in end_strings if s]
    changed = True
    while changed:
        changed = False
        text = text.rstrip()
        for s in ends:
            if text.endswith(s):
                text = text[: -len(s)]
                changed = True
    return text


@dataclasses.dataclass(frozen=True)
class ActionSpan:
    """What follows the first `<ACTION_START>` of a completion, in token ids.

    found: an `<ACTION_START>` exists. tokens: ids after it up to the first `<ACTION_END>` (or
    up to the end of the completion, stop ids removed, when there is none). closed: an
    `<ACTION_END>` ends the span.
    """

    found: bool
    tokens: tuple[int, ...] = ()
    closed: bool = False


def find_action_span(
    ids: Sequence[int], start_id: int, end_id: int, stop_ids: Iterable[int] = ()
) -> ActionSpan:
    ids = [int(i) for i in ids]
    if start_id not in ids:
        return ActionSpan(found=False)
    rest = ids[ids.index(start_id) + 1 :]
    if end_id in rest:
        return ActionSpan(found=True, tokens=tuple(rest[: rest.index(end_id)]), closed=True)
    stops = set(int(s) for s in stop_ids)
    while rest and rest[-1] in stops:  # EOS/padding after a truncated span is not junk
        rest.pop()
    return ActionSpan(found=True, tokens=tuple(rest), closed=False)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    k = 0
    for x, y in zip(a, b):
        if int(x) != int(y):
            break
        k += 1
    return k


def prefix_action_reward(generated: Sequence[int], target: Sequence[int], closed: bool = True) -> float:
    """The paper's r_action with this project's edge cases (module docstring), in [0, 1]."""
    m, n = len(target), len(generated)
    if m == 0:
        return 1.0 if (n == 0 and closed) else 0.0
    k = common_prefix_length(generated, target)
    if k == 0:
        return 0.0
    r = k / max(m, n)
    if not closed:
        r = min(r, (m - 1) / m)
    return float(r)


def span_action_reward(span: ActionSpan, target: Sequence[int]) -> float:
    """prefix_action_reward of a parsed span; 0 when the completion has no action span."""
    if not span.found:
        return 0.0
    return prefix_action_reward(span.tokens, target, closed=span.closed)


def decoded_l1_reward(predicted: np.ndarray | None, target: np.ndarray, scale: float = 1.0) -> float:
    """max(0, 1 - L1 / scale), L1 = mean |predicted - target| over the chunk, normalised units.

    Both chunks are [T, D] in the normalised [-1, 1] action space, so L1 lies in [0, 2];
    scale = 1.0 means an error of half the range scores 0. Mapped to [0, 1] rather than
    [-1, 0] so it adds to the other rewards on the same scale. None (a span that does not
    decode) or a shape mismatch scores 0.
    """
    if predicted is None:
        return 0.0
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or not np.all(np.isfinite(p)):
        return 0.0
    if scale <= 0:
        raise ValueError(f"decoded_l1_reward: scale must be > 0 (normalised units), got {scale}")
    return float(max(0.0, 1.0 - np.abs(p - t).mean() / scale))


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

    def __post_init__(self) -> None:
        if self.l1_scale <= 0:
            raise ValueError(f"l1_scale must be > 0, got {self.l1_scale}")
        if not any((self.format, self.action, self.l1)):
            raise ValueError("at least one of format, action and l1 must be non-zero")

    def active(self) -> dict[str, float]:
        return {name: w for name, w in (("format", self.format), ("action", self.action), ("l1", self.l1)) if w != 0}


@dataclasses.dataclass
class CompletionScore:
    format: float
    action: float
    l1: float
    span_found: bool
    valid_action: bool  # span closed and decodes to a chunk of the target's shape


# decode_span(llm ids between the markers) -> [T, D] normalised chunk, or None if invalid.
SpanDecoder = Callable[[Sequence[int]], "np.ndarray | None"]


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
        weights: RewardWeights = RewardWeights(),
    ) -> None:
        self.decode_text = decode_text
        self.start_id, self.end_id = int(start_id), int(end_id)
        self.stop_ids = tuple(int(s) for s in stop_ids)
        self.end_strings = tuple(end_strings)
        self.decode_span = decode_span
        self.weights = weights
        if weights.l1 and decode_span is None:
            raise ValueError("RewardFunctions: the L1 reward (weights.l1 != 0) needs decode_span")

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
        return CompletionScore(format=fmt, action=act, l1=l1, span_found=span.found, valid_action=bool(valid))

    def score_batch(self, completion_ids, target_ids, target_actions=None) -> list[CompletionScore]:
        if target_actions is None:
            target_actions = [None] * len(completion_ids)
        return [self.score(c, t, a) for c, t, a in zip(completion_ids, target_ids, target_actions, strict=True)]

    # -- TRL reward functions ---------------------------------------------------------

    def functions(self) -> tuple[list["RewardComponent"], list[float]]:
        """(reward functions, weights) for GRPOTrainer(reward_funcs=..., args.reward_weights=...)."""
        active = self.weights.active()
        return [RewardComponent(self, name) for name in active], list(active.values())

    def _logging_component(self) -> str:
        """The action metrics are logged once per batch, by the first active action component."""
        active = self.weights.active()
        return "action" if "action" in active else "l1"

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
            if self.decode_span is not None:
                log_metric("action/valid_rate", sum(s.valid_action for s in scores) / n)
        if name == "action":
            return [s.action for s in scores]
        if name == "l1":
            if target_actions is None:
                raise ValueError("reward 'l1' needs the dataset column 'target_actions' ([T, D] normalised chunk)")
            return [s.l1 for s in scores]
        raise ValueError(f"unknown reward component {name!r} (format, action, l1)")


class RewardComponent:
    """One named TRL reward function (TRL names its metric `rewards/<__name__>/mean`)."""

    def __init__(self, owner: RewardFunctions, name: str) -> None:
        self.owner = owner
        self.__name__ = name

    def __call__(self, completions=None, completion_ids=None, target_ids=None, target_actions=None, **kwargs):
        return self.owner.component(
            self.__name__, completion_ids, target_ids, target_actions, log_metric=kwargs.get("log_metric")
        )
