"""Reading a generated completion: is it well formed, where is its action span, how close is it.

These measures are stage 2's rewards (the paper's r = (r_format + r_action) / 2;
training/rewards.py weights and logs them for TRL) and the held-out metrics of `eval`
(eval/reasoning.py), so "reward went up" during RL and "metric went up" on held-out frames
mean the same thing. Plain Python on token ids and text, tested on hand-made cases
(docs/stage2.md has the table of edge cases).

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
from collections.abc import Iterable, Sequence

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


def symbol_prefix_reward(generated: np.ndarray | None, target: np.ndarray, tolerance: int = 2) -> float:
    """Partial credit along the prefix of quantised DCT symbols (FAST's integers, not BPE tokens).

    Why: at this project's scale the paper's token-prefix reward is almost always 0 (docs/stage2.md:
    the first BPE token holds several DC coefficients and is rarely exactly right), so GRPO gets
    no signal from it. FAST emits the lowest frequency of every dimension first, so a symbol
    prefix that is *close* is a chunk that starts right. Per symbol i the credit is
    c_i = max(0, 1 - |g_i - t_i| / (tolerance + 1)); the prefix runs while c_i > 0 and
    r = sum of the prefix's credits / m (m = len(target)). Properties (tests/training/test_symbol_reward.py):
    r in [0, 1]; 1 only for an exact match; moving any prefix symbol closer to the target never
    lowers r; tolerance 0 is the exact symbol prefix k / m.
    Guard against gaming validity: a span that does not spell exactly m symbols (None, too short,
    too long: it would not decode to a chunk) scores 0, and a decodable span whose first symbol
    is off by more than `tolerance` also scores 0, so emitting *any* well-formed chunk earns
    nothing (unlike the decoded-L1 reward, docs/stage2.md run B).
    """
    t = np.asarray(target, dtype=np.int64).reshape(-1)
    if generated is None or t.size == 0:
        return 0.0
    g = np.asarray(generated, dtype=np.int64).reshape(-1)
    if g.size != t.size:
        return 0.0
    if tolerance < 0:
        raise ValueError(f"symbol_prefix_reward: tolerance must be >= 0, got {tolerance}")
    credit = np.maximum(0.0, 1.0 - np.abs(g - t) / (tolerance + 1.0))
    zero = np.flatnonzero(credit <= 0.0)
    end = int(zero[0]) if zero.size else t.size
    return float(credit[:end].sum() / t.size)
