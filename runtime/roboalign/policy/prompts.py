"""Prompt formats as data: what the backbone reads and what it is trained to write.

Every stage (SFT, GRPO, the served policy, evaluation) renders prompts through this module, so
training and inference can never disagree on a space or a newline.

Rendered conversation (Qwen ChatML, the format both Qwen2.5-VL and Qwen3-VL were trained on):

    <|im_start|>system\n{system}<|im_end|>\n                      (only if system is not None)
    <|im_start|>user\n{camera}: <|vision_start|><|image_pad|><|vision_end|>\n ... {user}<|im_end|>\n
    <|im_start|>assistant\n{target}<|im_end|>\n

Targets (what the assistant turn holds; the loss covers the target and its <|im_end|> only):

    action (stage 1, FAST)  <ACTION_START><act_12><act_907>...<ACTION_END>
    vqa                     free text, e.g. "the red block"
    reasoning (stage 2)     <think>...</think><answer><ACTION_START>...<ACTION_END></answer>

The user text of an action query is `action_query` formatted with the instruction, followed by
the proprioceptive state as text when `include_state` is set ("State: 0.12 -0.40 ... 1.00.",
joint positions in rad, gripper in the RobotSpec unit, `state_decimals` decimals).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

# Qwen's chat and vision markers (identical in Qwen2.5-VL and Qwen3-VL tokenizers).
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
ENDOFTEXT = "<|endoftext|>"
CHAT_SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)

# Action span markers (added to the vocabulary by roboalign.tokenizer.bridge) and the stage-2
# reasoning structure (plain text: the format reward parses it).
ACTION_START, ACTION_END = "<ACTION_START>", "<ACTION_END>"
THINK_START, THINK_END = "<think>", "</think>"
ANSWER_START, ANSWER_END = "<answer>", "</answer>"

QWEN25_DEFAULT_SYSTEM = "You are a helpful assistant."


@dataclasses.dataclass(frozen=True)
class PromptFormat:
    """How observations and targets become text. Saved in every checkpoint's roboalign.json.

    system:          system prompt; None omits the system turn (Qwen3-VL's template has none).
    action_query:    user text of an action query; `{instruction}` is replaced.
    reasoning_query: user text of a stage-2 query (think, then answer with action tokens).
    include_state:   append the proprioceptive state as text to action queries.
    state_decimals:  decimals of each state value.
    label_cameras:   prefix each image with its camera name ("front: "), so multi-view prompts
                     say which view is which.
    """

    name: str = "roboalign-v1"
    system: str | None = QWEN25_DEFAULT_SYSTEM
    action_query: str = "What action should the robot take to {instruction}?"
    reasoning_query: str = (
        "What action should the robot take to {instruction}? Think about the scene and the motion "
        "inside <think></think>, then give the action tokens inside <answer></answer>."
    )
    include_state: bool = True
    state_decimals: int = 2
    label_cameras: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PromptFormat:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"PromptFormat: unknown fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


DEFAULT_FORMAT = PromptFormat()


@dataclasses.dataclass(frozen=True)
class Chat:
    """One rendered conversation: the images it references (in order) and its text parts.

    prompt: everything up to and including "<|im_start|>assistant\\n" (no loss).
    target: the assistant's answer followed by "<|im_end|>" (the loss covers exactly this),
            or "" for a generation prompt.
    """

    prompt: str
    target: str
    n_images: int

    @property
    def text(self) -> str:
        return self.prompt + self.target


def format_state(joint_positions: np.ndarray | Sequence[float], decimals: int = 2) -> str:
    """Joint positions as text: "0.12 -0.40 1.00" (rad; gripper in its spec unit)."""
    values = np.asarray(joint_positions, dtype=np.float64).reshape(-1)
    # +0.0 turns -0.0 into 0.0 so the text never shows "-0.00".
    return " ".join(f"{float(v) + 0.0:.{decimals}f}" for v in np.round(values, decimals))


def image_block(camera_names: Sequence[str], label: bool = True) -> str:
    """One vision placeholder per camera; the processor expands each <|image_pad|>."""
    parts = []
    for name in camera_names:
        prefix = f"{name}: " if label else ""
        parts.append(f"{prefix}{VISION_START}{IMAGE_PAD}{VISION_END}\n")
    return "".join(parts)


def render(
    user: str,
    camera_names: Sequence[str],
    target: str | None,
    fmt: PromptFormat = DEFAULT_FORMAT,
) -> Chat:
    """Render one single-turn conversation; target=None gives a generation prompt."""
    system = "" if fmt.system is None else f"{IM_START}system\n{fmt.system}{IM_END}\n"
    prompt = (
        f"{system}{IM_START}user\n{image_block(camera_names, fmt.label_cameras)}{user}{IM_END}\n"
        f"{IM_START}assistant\n"
    )
    return Chat(prompt=prompt, target="" if target is None else f"{target}{IM_END}", n_images=len(camera_names))


def action_user_text(instruction: str, state: np.ndarray | None, fmt: PromptFormat = DEFAULT_FORMAT) -> str:
    text = fmt.action_query.format(instruction=instruction.strip().rstrip("."))
    if fmt.include_state and state is not None:
        text += f"\nState: {format_state(state, fmt.state_decimals)}."
    return text


def reasoning_user_text(instruction: str, state: np.ndarray | None, fmt: PromptFormat = DEFAULT_FORMAT) -> str:
    text = fmt.reasoning_query.format(instruction=instruction.strip().rstrip("."))
    if fmt.include_state and state is not None:
        text += f"\nState: {format_state(state, fmt.state_decimals)}."
    return text


def action_target(action_tokens_text: str) -> str:
    """Stage-1 target: the FAST tokens (as LLM token text, from the bridge) between markers."""
    return f"{ACTION_START}{action_tokens_text}{ACTION_END}"


def reasoning_target(reasoning: str, action_tokens_text: str) -> str:
    """Stage-2 format: <think>reasoning</think><answer><ACTION_START>...<ACTION_END></answer>."""
    return f"{THINK_START}{reasoning}{THINK_END}{ANSWER_START}{action_target(action_tokens_text)}{ANSWER_END}"


def action_chat(
    instruction: str,
    camera_names: Sequence[str],
    state: np.ndarray | None,
    action_tokens_text: str | None,
    fmt: PromptFormat = DEFAULT_FORMAT,
) -> Chat:
    """An action query; action_tokens_text=None renders the generation prompt."""
    target = None if action_tokens_text is None else action_target(action_tokens_text)
    return render(action_user_text(instruction, state, fmt), camera_names, target, fmt)


def vqa_chat(
    question: str, camera_names: Sequence[str], answer: str | None, fmt: PromptFormat = DEFAULT_FORMAT
) -> Chat:
    return render(question.strip(), camera_names, answer, fmt)


def prompt_vocabulary(fmt: PromptFormat = DEFAULT_FORMAT) -> list[str]:
    """Text a locally trained tokenizer should know well (tiny models): every fixed string above."""
    return [
        fmt.system or "",
        fmt.action_query,
        fmt.reasoning_query,
        "State: 0.12 -0.40 1.00 0.00 -1.57 3.14 0.5 -2.25 0.87 9.",
        f"{THINK_START} {THINK_END} {ANSWER_START} {ANSWER_END}",
        "system user assistant front wrist camera",
    ]
