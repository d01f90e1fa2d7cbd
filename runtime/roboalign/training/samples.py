"""Training sample schema: robot frames and embodied VQA, and how both become chat examples.

Every loader yields one of the two records below; `ChatBuilder` turns either into a
`ChatExample` (images + prompt text + target text) with the prompt formats of
roboalign.policy.prompts, so stage 1, stage 2 and the served policy share one format.

    RobotSample  images of the cameras at step t, instruction, joint state at t, and the
                 chunk of the next H absolute targets (physical units) -> FAST target
    VQASample    images, question, answer                           -> text target
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.policy import actions as action_frames
from roboalign.policy import prompts

ImageRef = Any  # uint8 [H, W, 3] array, PIL image, or a path to an image file


@dataclasses.dataclass
class RobotSample:
    """One robot frame with its future action chunk.

    images:  one image per camera, in `cameras` order.
    state:   joint positions at t [D] (rad; gripper in spec units).
    chunk:   absolute targets for t .. t+H-1 [H, D], same units (padded with the last action
             when the episode ends before H steps).
    dt:      seconds between the chunk's actions.
    source:  where it came from ("<episode folder>#<t>"), for debugging and splits.
    """

    images: list[ImageRef]
    cameras: tuple[str, ...]
    instruction: str
    state: np.ndarray
    chunk: np.ndarray
    dt: float
    source: str = ""
    kind: str = dataclasses.field(default="action", init=False)


@dataclasses.dataclass
class VQASample:
    """One embodied question with its answer (images in `cameras` order)."""

    images: list[ImageRef]
    cameras: tuple[str, ...]
    question: str
    answer: str
    source: str = ""
    kind: str = dataclasses.field(default="vqa", init=False)


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

    def __call__(self, sample: RobotSample | VQASample, with_target: bool = True) -> ChatExample:
        if isinstance(sample, RobotSample):
            ids = self.fast_ids(sample)
            body = "".join(self.bridge.action_token(i) for i in ids) if with_target else None
            chat = prompts.action_chat(sample.instruction, sample.cameras, sample.state, body, self.fmt)
            return ChatExample(sample.images, chat.prompt, chat.target, "action", ids, sample.source)
        if isinstance(sample, VQASample):
            chat = prompts.vqa_chat(sample.question, sample.cameras, sample.answer if with_target else None, self.fmt)
            return ChatExample(sample.images, chat.prompt, chat.target, "vqa", None, sample.source)
        raise TypeError(f"cannot build a chat from {type(sample).__name__}")


def load_image(ref: ImageRef) -> np.ndarray:
    """Any ImageRef -> uint8 [H, W, 3]."""
    if isinstance(ref, np.ndarray):
        return ref
    from PIL import Image

    if isinstance(ref, (str, Path)):
        with Image.open(ref) as im:
            return np.asarray(im.convert("RGB"))
    return np.asarray(ref.convert("RGB"))


def stack_chunks(samples: Sequence[RobotSample], space: ActionSpace) -> np.ndarray:
    """Chunks of robot samples in the action frame, [N, H, D] (to fit FAST and the baseline)."""
    return np.stack([space.to_frame(s.chunk, s.state) for s in samples])
