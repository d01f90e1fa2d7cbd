"""Zero-shot-style reasoning traces for robot frames, and stage-2 chat examples.

RoboAlign's SFT mixes in "a small zero-shot-CoT reasoning set so that later RL has diverse
reasoning to sample from": without it a model never writes `<think>…</think><answer>…`, the
format reward is always 0 and GRPO has nothing to reinforce. Here no large model writes the
traces; they are templated from the frame itself, a coarse plan in words and numbers:

    "gripper open then closed. motion 0.3 -0.1 0.0 0.0 -0.2 0.1"

i.e. what the gripper does (now, at the end of the chunk) and the mean displacement of each
arm joint over the chunk (rad, rounded to `decimals`, in joint order like the state text).
Short on purpose (~27 tokens with the tiny tokenizer): every generated token costs rollout
time, and the words are ones the stage-1 tokenizer already knows. FAST orders its tokens
lowest frequency first, so the first tokens encode those means: a good plan in the reasoning
is a good start of the action span, which is what the prefix reward measures. At RL and test time the model writes its own plan from the image
and state; the target is never in the prompt.

`ReasoningChatBuilder` is a drop-in for policy.chat.ChatBuilder that renders the stage-2 prompt
(prompts.reasoning_user_text) and target (prompts.reasoning_target), so stage 1's collator and
SFT path train on it unchanged (training/align.py uses it for the optional format bootstrap;
eval/reasoning.py scores held-out frames with it).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from roboalign.data.samples import RobotSample
from roboalign.policy import prompts
from roboalign.policy.chat import ActionSpace, ChatBuilder, ChatExample


@dataclasses.dataclass(frozen=True)
class ReasoningStyle:
    """gripper_dim: index of the gripper in the action vector (None: no gripper words).
    gripper_closed_above: gripper values above this read as closed (spec unit; 0 = open).
    decimals: rounding of the mean joint motion (rad).
    """

    gripper_dim: int | None = 6
    gripper_closed_above: float = 0.5
    decimals: int = 1

    def __post_init__(self) -> None:
        if (self.gripper_dim is not None and self.gripper_dim < 0) or self.decimals < 0:
            raise ValueError("gripper_dim must be >= 0 or null, decimals >= 0")


def describe_frame(sample: RobotSample, style: ReasoningStyle = ReasoningStyle()) -> str:
    """The templated reasoning of one frame (module docstring)."""
    state = np.asarray(sample.state, dtype=np.float64)
    chunk = np.asarray(sample.chunk, dtype=np.float64)
    g = style.gripper_dim
    arm_dims = [d for d in range(chunk.shape[1]) if d != g]
    motion = (chunk[:, arm_dims] - state[arm_dims]).mean(axis=0)
    parts = []
    if g is not None and g < chunk.shape[1]:
        now = "closed" if state[g] > style.gripper_closed_above else "open"
        later = "closed" if chunk[-1, g] > style.gripper_closed_above else "open"
        parts.append(f"gripper {now} then {later}.")
    parts.append("motion " + " ".join(_number(v, style.decimals) for v in motion))
    return " ".join(parts)


def _number(v: float, decimals: int) -> str:
    return f"{round(float(v), decimals) + 0.0:.{decimals}f}"  # +0.0: never "-0.0"


class ReasoningChatBuilder(ChatBuilder):
    """RobotSample -> stage-2 ChatExample (reasoning prompt; reasoning + action target)."""

    def __init__(self, bridge, fmt: prompts.PromptFormat = prompts.DEFAULT_FORMAT,
                 space: ActionSpace = ActionSpace(), style: ReasoningStyle = ReasoningStyle()):
        super().__init__(bridge, fmt, space)
        self.style = style

    def prompt_text(self, sample: RobotSample) -> str:
        return prompts.reasoning_user_text(sample.instruction, sample.state, self.fmt)

    def __call__(self, sample, with_target: bool = True) -> ChatExample:
        if not isinstance(sample, RobotSample):
            raise TypeError(f"reasoning chats are built from robot samples, not {type(sample).__name__}")
        ids = self.fast_ids(sample)
        target = None
        if with_target:
            body = "".join(self.bridge.action_token(i) for i in ids)
            target = prompts.reasoning_target(describe_frame(sample, self.style), body)
        chat = prompts.render(self.prompt_text(sample), sample.cameras, target, self.fmt)
        return ChatExample(sample.images, chat.prompt, chat.target, "reasoning", ids, sample.source)
