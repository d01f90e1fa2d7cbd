"""Templated stage-2 reasoning traces: what they say about a frame and how they are framed."""
from __future__ import annotations

import numpy as np

from roboalign.data.samples import RobotSample
from roboalign.policy import prompts
from roboalign.policy.completion import format_reward_text
from roboalign.policy.reasoning import ReasoningStyle, describe_frame


def _sample(state, chunk):
    return RobotSample(images=[], cameras=("front",), instruction="touch the red block",
                       state=np.asarray(state, float), chunk=np.asarray(chunk, float), dt=0.1)


def test_reasoning_states_gripper_change_and_mean_joint_motion():
    state = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    chunk = np.zeros((4, 7))
    chunk[:, 0] = [0.1, 0.2, 0.3, 0.4]  # mean motion +0.25 -> "0.2" (banker's rounding is fine)
    chunk[:, 4] = -0.5
    chunk[-1, 6] = 1.0  # gripper closes at the end
    text = describe_frame(_sample(state, chunk))
    assert text.startswith("gripper open then closed.")
    assert text.endswith("motion 0.2 0.0 0.0 0.0 -0.5 0.0")


def test_reasoning_never_prints_negative_zero_and_drops_gripper_words_without_gripper():
    chunk = np.full((3, 2), -0.01)
    text = describe_frame(_sample([0.0, 0.0], chunk), ReasoningStyle(gripper_dim=None))
    assert text == "motion 0.0 0.0"


def test_reasoning_target_scores_full_format_reward():
    target = prompts.reasoning_target(describe_frame(_sample(np.zeros(7), np.zeros((2, 7)))), "<act_1><act_2>")
    assert format_reward_text(target) == 1.0
