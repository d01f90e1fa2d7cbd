"""Prompt formats: the text the backbone reads and is trained to write."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from roboalign.policy import prompts


def test_action_prompt_has_one_labelled_vision_block_per_camera_and_the_state_as_text():
    chat = prompts.action_chat("touch the red block.", ["front", "wrist"], np.array([0.123, -0.4, 1.0]), None)
    assert chat.prompt.count(prompts.IMAGE_PAD) == 2 and chat.n_images == 2
    assert "front: <|vision_start|><|image_pad|><|vision_end|>\nwrist: <|vision_start|>" in chat.prompt
    assert "What action should the robot take to touch the red block?" in chat.prompt
    assert "State: 0.12 -0.40 1.00." in chat.prompt
    assert chat.prompt.endswith("<|im_start|>assistant\n") and chat.target == ""


def test_training_text_is_generation_prompt_plus_target_and_end_of_turn():
    gen = prompts.action_chat("touch the red block", ["front"], np.zeros(2), None)
    train = prompts.action_chat("touch the red block", ["front"], np.zeros(2), "<act_1><act_2>")
    assert train.prompt == gen.prompt
    assert train.target == "<ACTION_START><act_1><act_2><ACTION_END><|im_end|>"
    assert train.text == gen.prompt + train.target


def test_stage2_reasoning_target_has_think_then_answer_wrapping_the_action_span():
    t = prompts.reasoning_target("the red block is left", "<act_3>")
    assert t == "<think>the red block is left</think><answer><ACTION_START><act_3><ACTION_END></answer>"


def test_state_text_never_shows_negative_zero():
    assert prompts.format_state(np.array([-0.001, -0.0, 0.004]), 2) == "0.00 0.00 0.00"


def test_format_without_system_turn_or_state_omits_them():
    fmt = dataclasses.replace(prompts.DEFAULT_FORMAT, system=None, include_state=False, label_cameras=False)
    chat = prompts.action_chat("touch", ["front"], np.zeros(3), None, fmt)
    assert chat.prompt.startswith("<|im_start|>user\n<|vision_start|>")
    assert "State:" not in chat.prompt


def test_prompt_format_round_trips_through_a_dict_and_rejects_unknown_fields():
    fmt = dataclasses.replace(prompts.DEFAULT_FORMAT, state_decimals=3)
    assert prompts.PromptFormat.from_dict(fmt.to_dict()) == fmt
    with pytest.raises(ValueError, match="unknown fields"):
        prompts.PromptFormat.from_dict({"sytem": "typo"})


def test_vqa_chat_puts_the_answer_in_the_assistant_turn():
    chat = prompts.vqa_chat("Is the gripper open?", ["front"], "yes")
    assert "Is the gripper open?<|im_end|>" in chat.prompt and chat.target == "yes<|im_end|>"
