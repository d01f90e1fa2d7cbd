"""Robot-frame and embodied-VQA samples: what every episode reader yields and every model trains on.

    RobotSample  images of the cameras at step t, instruction, joint state at t, and the
                 chunk of the next H absolute targets (physical units)
    VQASample    images, question, answer

roboalign.policy.chat turns either into a chat example (prompt + target) for a backbone.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

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
class ReasoningSample:
    """A robot frame to be trained as a reasoning chat (`<think>` plan, then the action span)."""

    robot: RobotSample
