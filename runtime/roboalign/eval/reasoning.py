"""Held-out metrics under the stage-2 reasoning prompt (think, then answer with action tokens).

Greedy generation per held-out robot frame with prompts.reasoning_user_text, scored with the
same code as the GRPO rewards (policy/completion.py), so "reward went up" during RL and "metric
went up" on held-out frames mean the same thing:

format_rate        r_format: well-formed <think>…</think><answer><ACTION_START>…<ACTION_END></answer>
prefix_accuracy    r_action: correct FAST prefix / target length (the paper's action reward)
exact_match_rate   the action span equals the target
valid_rate         the span is closed, clean and decodes to an [H, D] chunk in range
l1_normalized      mean |decoded - target| in [-1, 1] units (action frame), valid frames only
l1_physical        the same in physical units (rad; gripper 0..1) on absolute targets
completion_tokens  mean generated length (tokens)
per_frame          format, prefix, valid and L1 (None when invalid) of every frame, in frame
                   order (seeded subset), so two checkpoints can be compared frame by frame
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.policy import prompts
from roboalign.policy.completion import find_action_span, format_reward_text, span_action_reward


@dataclasses.dataclass
class ReasoningEval:
    n_frames: int
    format_rate: float
    prefix_accuracy: float
    exact_match_rate: float
    valid_rate: float
    l1_normalized: float | None
    l1_physical: float | None
    completion_tokens: float
    examples: list[str]
    seconds: float
    per_frame: dict[str, list] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def held_out_samples(frames, max_frames: int | None, seed: int) -> list:
    idx = np.arange(len(frames))
    if max_frames and len(idx) > max_frames:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_frames, replace=False))
    return [frames[int(i)] for i in idx]


def evaluate_reasoning(ckpt_dir: str | Path, data: str | Path, max_frames: int | None = None,
                       batch_size: int = 16, seed: int = 0, max_new_tokens: int | None = None,
                       n_examples: int = 3, log=print) -> ReasoningEval:
    from roboalign.data.sources import open_robot_source
    from roboalign.policy.chat import ActionSpace
    from roboalign.policy.reasoning import ReasoningChatBuilder
    from roboalign.policy.token_policy import FastTokenPolicy

    t0 = time.perf_counter()
    policy = FastTokenPolicy.from_pretrained(ckpt_dir)
    bb, bridge, info = policy.backbone, policy.bridge, policy.info
    frames = open_robot_source(data, info.horizon, info.cameras or None)
    samples = held_out_samples(frames, max_frames, seed)
    space = ActionSpace(info.horizon, info.action_frame, info.absolute_dims)
    builder = ReasoningChatBuilder(bridge, bb.prompt_format, space)
    norm = bridge.fast.normalizer
    tok = bb.tokenizer
    stops = [tok.convert_tokens_to_ids(prompts.IM_END), tok.pad_token_id]
    # reasoning (~60 tokens for the templated style) + the action span
    max_new = max_new_tokens or 96 + info.horizon * info.action_dim
    log(f"eval reasoning: {len(samples)} frames from {data}, up to {max_new} new tokens")

    fmt, prefix, exact, valid, l1n, l1p, lengths, examples = [], [], [], [], [], [], [], []
    frame_l1: list[float | None] = []
    for i in range(0, len(samples), batch_size):
        batch = samples[i : i + batch_size]
        chats = [builder(s, with_target=False) for s in batch]
        gen = bb.generate_chats([prompts.Chat(c.prompt, "", len(c.images)) for c in chats],
                                [c.images for c in chats], max_new_tokens=max_new)
        for s, c, text, ids in zip(batch, chats, gen.texts, gen.token_ids):
            target_llm = bridge.fast_to_llm(c.fast_ids)
            span = find_action_span(ids, bridge.start_id, bridge.end_id, stops)
            fmt.append(format_reward_text(text, [prompts.IM_END, prompts.ENDOFTEXT]))
            prefix.append(span_action_reward(span, target_llm))
            exact.append(span.closed and list(span.tokens) == target_llm)
            res = bridge.decode_span(bridge.extract_from_ids(ids, tok), info.horizon, info.action_dim)
            valid.append(bool(res.valid))
            lengths.append(len(ids))
            if res.valid:
                target_frame = space.to_frame(s.chunk, s.state)
                l1n.append(float(np.abs(res.normalized - norm.normalize(target_frame)).mean()))
                absolute = space.from_frame(res.actions, s.state)
                l1p.append(float(np.abs(absolute - s.chunk).mean()))
            frame_l1.append(l1n[-1] if res.valid else None)
            if len(examples) < n_examples:
                examples.append(text)
        log(f"  {min(i + batch_size, len(samples))}/{len(samples)} frames, format {np.mean(fmt):.2f}, "
            f"valid {np.mean(valid):.2f}")

    def mean(x):
        return float(np.mean(x)) if len(x) else None

    return ReasoningEval(
        n_frames=len(samples), format_rate=float(np.mean(fmt)), prefix_accuracy=float(np.mean(prefix)),
        exact_match_rate=float(np.mean(exact)), valid_rate=float(np.mean(valid)), l1_normalized=mean(l1n),
        l1_physical=mean(l1p), completion_tokens=float(np.mean(lengths)), examples=examples,
        seconds=round(time.perf_counter() - t0, 1),
        per_frame={"source": [s.source for s in samples], "format": fmt, "prefix": prefix,
                   "valid": [float(v) for v in valid], "l1_normalized": frame_l1},
    )
