"""Config switches of issue 19: tiny backbone patch merging, reasoning chats in stage 1's mixture."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.policy import prompts


def _image_tokens(backbone, side: int) -> int:
    from PIL import Image

    img = Image.fromarray(np.zeros((side, side, 3), np.uint8))
    chat = prompts.vqa_chat("Where is the red block on the table?", ("front",), None, prompts.DEFAULT_FORMAT)
    enc = backbone.encode([chat.prompt], [[img]])
    pad = backbone.tokenizer.convert_tokens_to_ids(prompts.IMAGE_PAD)
    return int((enc["input_ids"][0] == pad).sum())


def test_spatial_merge_size_one_gives_four_times_the_vision_tokens():
    import torch

    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    merged = build_tiny_qwen2_5_vl(image_size=56)
    unmerged = build_tiny_qwen2_5_vl(image_size=56, spatial_merge_size=1)
    assert _image_tokens(merged, 56) == 4 and _image_tokens(unmerged, 56) == 16
    from PIL import Image

    img = Image.fromarray(np.zeros((56, 56, 3), np.uint8))
    chat = prompts.vqa_chat("Is the gripper open?", ("front",), None, prompts.DEFAULT_FORMAT)
    with torch.no_grad():
        out = unmerged.model(**unmerged.encode([chat.prompt], [[img]]))
    assert torch.isfinite(out.logits).all()


def test_spatial_merge_size_outside_1_2_4_or_misaligned_image_is_refused():
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    with pytest.raises(ValueError, match="spatial_merge_size"):
        build_tiny_qwen2_5_vl(spatial_merge_size=3)
    with pytest.raises(ValueError, match="multiple of 28"):
        build_tiny_qwen2_5_vl(image_size=70)


def test_reasoning_source_serves_frames_as_reasoning_chats(stage1_data):
    from roboalign.data.samples import ReasoningSample
    from roboalign.policy.chat import ActionSpace, ChatBuilder
    from roboalign.tokenizer import FastTokenizer
    from roboalign.tokenizer.bridge import ActionTokenBridge
    from roboalign.training.mixture import DataConfig, SourceConfig, build_mixture

    data = DataConfig(sources=(SourceConfig("episodes", str(stage1_data / "train"), 0.5),
                               SourceConfig("reasoning", str(stage1_data / "train"), 0.5)),
                      horizon=8, action_frame="delta", absolute_dims=(6,))
    mix, robots, _ = build_mixture(data)
    assert len(robots) == 1  # the reasoning view does not count twice when FAST is fitted
    reasoning = [mix[i] for i in range(len(mix)) if isinstance(mix[i], ReasoningSample)]
    assert 0 < len(reasoning) < len(mix)
    space = ActionSpace(8, "delta", (6,))
    fast = FastTokenizer(vocab_size=128, max_horizon=16).fit(space.to_frame(robots[0].chunks(), robots[0].states()))
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    bridge = ActionTokenBridge(fast)
    bridge.attach(build_tiny_qwen2_5_vl().tokenizer)
    ex = ChatBuilder(bridge, prompts.DEFAULT_FORMAT, space)(reasoning[0])
    assert ex.kind == "reasoning"
    assert ex.target.startswith(prompts.THINK_START) and prompts.ACTION_START in ex.target
