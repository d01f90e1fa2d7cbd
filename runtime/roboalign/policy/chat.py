"""Samples -> chat examples: the prompt and target text a backbone trains on and is evaluated with.

`ChatBuilder` turns a RobotSample or VQASample (roboalign.data.samples) into a `ChatExample`
(images + prompt text + target text) with the prompt formats of roboalign.policy.prompts, so
stage 1, stage 2, evaluation and the served policy share one format. `ActionSpace` says how a
chunk becomes FAST targets (action frame, dims kept absolute, horizon).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from roboalign.data.samples import ImageRef, ReasoningSample, RobotSample, VQASample
from roboalign.policy import actions as action_frames
from roboalign.policy import prompts


@dataclasses.dataclass
class ChatExample:
    """What the collator tokenises: images (prompt order), prompt text (no loss), target text
    (loss), plus the FAST ids of an action target for evaluation."""

    images: list[ImageRef]
    prompt: str
    target: str
    kind: str
    fast_ids: list[int] | None = None
    source: str = ""


@dataclasses.dataclass(frozen=True)
class ActionSpace:
    """How chunks become FAST targets: frame (absolute|delta), dims kept absolute, horizon."""

    horizon: int = 16
    frame: str = "absolute"
    absolute_dims: tuple[int, ...] = ()

    def to_frame(self, chunk: np.ndarray, state: np.ndarray) -> np.ndarray:
        return action_frames.to_frame(chunk, state, self.frame, self.absolute_dims)

    def from_frame(self, chunk: np.ndarray, state: np.ndarray) -> np.ndarray:
        return action_frames.from_frame(chunk, state, self.frame, self.absolute_dims)


class ChatBuilder:
    """RobotSample / VQASample -> ChatExample. Needs the action bridge for robot samples."""

    def __init__(self, bridge=None, fmt: prompts.PromptFormat = prompts.DEFAULT_FORMAT,
                 space: ActionSpace = ActionSpace()):
        self.bridge = bridge
        self.fmt = fmt
        self.space = space

    def fast_ids(self, sample: RobotSample) -> list[int]:
        if self.bridge is None:
            raise ValueError("robot samples need an action bridge (FAST tokenizer) to build targets")
        return self.bridge.fast.encode(self.space.to_frame(sample.chunk, sample.state))

    def __call__(self, sample: RobotSample | VQASample | ReasoningSample, with_target: bool = True) -> ChatExample:
        if isinstance(sample, ReasoningSample):
            from roboalign.policy.reasoning import ReasoningChatBuilder  # it subclasses this one

            return ReasoningChatBuilder(self.bridge, self.fmt, self.space)(sample.robot, with_target)
        if isinstance(sample, RobotSample):
            ids = self.fast_ids(sample)
            body = "".join(self.bridge.action_token(i) for i in ids) if with_target else None
            chat = prompts.action_chat(sample.instruction, sample.cameras, sample.state, body, self.fmt)
            return ChatExample(sample.images, chat.prompt, chat.target, "action", ids, sample.source)
        if isinstance(sample, VQASample):
            chat = prompts.vqa_chat(sample.question, sample.cameras, sample.answer if with_target else None, self.fmt)
            return ChatExample(sample.images, chat.prompt, chat.target, "vqa", None, sample.source)
        raise TypeError(f"cannot build a chat from {type(sample).__name__}")
