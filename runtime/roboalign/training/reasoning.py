"""Zero-shot-style reasoning traces for robot frames, and stage-2 chat examples.

RoboAlign's SFT mixes in "a small zero-shot-CoT reasoning set so that later RL has diverse
reasoning to sample from": without it a model never writes `<think>…</think><answer>…`, the
format reward is always 0 and GRPO has nothing to reinforce. Here no large model writes the
traces; they are templated from the frame itself, a coarse plan in words and numbers:

    "touch the red block. gripper open, stays open. net motion (rad): j1 +0.3 j2 -0.1 ...
     j6 0.0"

i.e. the mean displacement of each arm joint over the chunk (rounded to `decimals`) and what
the gripper does. FAST orders its tokens lowest frequency first, so the first tokens encode
those means: a good plan in the reasoning is a good start of the action span, which is what
the prefix reward measures. At RL and test time the model writes its own plan from the image
and state; the target is never in the prompt.

`ReasoningChatBuilder` is a drop-in for samples.ChatBuilder that renders the stage-2 prompt
(prompts.reasoning_user_text) and target (prompts.reasoning_target), so stage 1's collator and
SFT path train on it unchanged (align.py uses it for the optional format bootstrap; stage 1
can add it to its mixture).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from roboalign.policy import prompts
from roboalign.training.samples import ActionSpace, ChatBuilder, ChatExample, RobotSample


@dataclasses.dataclass(frozen=True)
class ReasoningStyle:
    """gripper_dim: index of the gripper in the action vector (None: no gripper words).
    gripper_closed_above: gripper values above this read as closed (spec unit; 0 = open).
    decimals: rounding of the net joint motion (rad). joint_prefix: "j" -> "j1", "j2", ...
    """

    gripper_dim: int | None = 6
    gripper_closed_above: float = 0.5
    decimals: int = 1
    joint_prefix: str = "j"


def describe_frame(sample: RobotSample, style: ReasoningStyle = ReasoningStyle()) -> str:
    """The templated reasoning of one frame (module docstring)."""
    state = np.asarray(sample.state, dtype=np.float64)
    chunk = np.asarray(sample.chunk, dtype=np.float64)
    g = style.gripper_dim
    arm_dims = [d for d in range(chunk.shape[1]) if d != g]
    motion = (chunk[:, arm_dims] - state[arm_dims]).mean(axis=0)
    parts = [sample.instruction.strip().rstrip(".") + "."]
    if g is not None and g < chunk.shape[1]:
        now = "closed" if state[g] > style.gripper_closed_above else "open"
        later = "closed" if chunk[-1, g] > style.gripper_closed_above else "open"
        change = f"stays {later}" if now == later else ("closes" if later == "closed" else "opens")
        parts.append(f"gripper {now}, {change}.")
    words = " ".join(
        f"{style.joint_prefix}{d + 1} {_signed(v, style.decimals)}" for d, v in zip(arm_dims, motion)
    )
    parts.append(f"net motion (rad): {words}")
    return " ".join(parts)


def _signed(v: float, decimals: int) -> str:
    r = round(float(v), decimals) + 0.0  # no "-0.0"
    return f"{r:+.{decimals}f}" if r != 0 else f"{0:.{decimals}f}"


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
