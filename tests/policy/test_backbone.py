"""Backbone wrapper on tiny Qwen2.5-VL / Qwen3-VL models built locally (no download)."""
from __future__ import annotations

import json

import pytest
import torch

from roboalign.policy import prompts
from roboalign.policy.backbone import Backbone
from roboalign.policy.checkpoint import CheckpointInfo


@pytest.mark.parametrize("fixture", ["tiny_qwen25", "tiny_qwen3"])
def test_tiny_backbone_saved_folder_reloads_with_identical_logits(fixture, request, tmp_path, obs):
    bb = request.getfixturevalue(fixture)
    chat, images = bb.chat_for(obs)
    enc = bb.encode([chat.prompt], [images])
    with torch.no_grad():
        before = bb.model(**enc).logits
    bb.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file() and (tmp_path / "roboalign.json").is_file()
    again = Backbone.from_pretrained(tmp_path)
    assert again.family == bb.family and again.prompt_format == bb.prompt_format
    enc2 = again.encode([chat.prompt], [images])
    assert torch.equal(enc["input_ids"], enc2["input_ids"]) and torch.equal(enc["pixel_values"], enc2["pixel_values"])
    with torch.no_grad():
        after = again.model(**enc2).logits
    assert torch.equal(before, after)


@pytest.mark.parametrize("fixture", ["tiny_qwen25", "tiny_qwen3"])
def test_prompt_expands_each_image_to_its_vision_tokens(fixture, request, make_obs):
    bb = request.getfixturevalue(fixture)
    o = make_obs(cams=("front", "wrist"))
    chat, images = bb.chat_for(o)
    enc = bb.encode([chat.prompt], [images])
    n_image_tokens = int((enc["input_ids"] == bb.model.config.image_token_id).sum())
    assert enc["image_grid_thw"].shape == (2, 3)
    assert n_image_tokens == int(enc["image_grid_thw"].prod(-1).sum()) // 4  # 2x2 patch merge


@pytest.mark.parametrize("fixture", ["tiny_qwen25", "tiny_qwen3"])
def test_features_of_layer_k_equal_transformers_hidden_states_k(fixture, request, make_obs):
    bb = request.getfixturevalue(fixture)
    batch = [make_obs(0), make_obs(1, "touch the blue cube please")]  # different lengths: left padding
    pairs = [bb.chat_for(o) for o in batch]
    enc = bb.encode([p[0].prompt for p in pairs], [p[1] for p in pairs])
    with torch.no_grad():
        ref = bb.model(**enc, output_hidden_states=True).hidden_states
    for layer in (0, 1, bb.num_layers - 1):
        f = bb.features(batch, layer=layer)
        assert f.layer == layer and f.hidden.shape == ref[layer].shape
        assert torch.allclose(f.hidden, ref[layer], atol=1e-5)
    assert bb.features(batch, layer=-1).layer == bb.num_layers
    assert torch.equal(f.attention_mask, enc["attention_mask"]) and f.attention_mask[:, 0].min() == 0


def test_layer_out_of_range_is_refused_with_the_valid_range(tiny_qwen25):
    with pytest.raises(ValueError, match=r"0\.\.2"):
        tiny_qwen25.resolve_layer(3)


def test_generate_returns_one_text_per_observation_and_stops_at_end_of_turn(tiny_qwen25, make_obs):
    texts = tiny_qwen25.generate([make_obs(0), make_obs(1)], max_new_tokens=3)
    assert len(texts) == 2 and all(isinstance(t, str) and prompts.IM_END not in t for t in texts)


def test_checkpoint_cameras_fix_the_prompt_order_and_missing_ones_are_named(tiny_qwen25, make_obs):
    bb = Backbone(tiny_qwen25.model, tiny_qwen25.processor, "qwen2_5_vl",
                  info=CheckpointInfo(family="qwen2_5_vl", prompt_format={}, cameras=("wrist", "front")))
    chat, _ = bb.chat_for(make_obs(cams=("front", "wrist")))
    assert chat.prompt.index("wrist:") < chat.prompt.index("front:")
    with pytest.raises(ValueError, match="lacks camera"):
        bb.chat_for(make_obs(cams=("front",)))


def test_freeze_vision_stops_gradients_only_in_the_vision_tower(tiny_qwen25):
    tiny_qwen25.freeze_vision(True)
    try:
        assert not any(p.requires_grad for p in tiny_qwen25.vision_tower.parameters())
        assert all(p.requires_grad for p in tiny_qwen25.decoder_layers.parameters())
    finally:
        tiny_qwen25.freeze_vision(False)


def test_loading_a_folder_that_is_not_a_checkpoint_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint folder"):
        Backbone.from_pretrained(tmp_path)


def test_checkpoint_info_rejects_newer_versions(tmp_path):
    info = CheckpointInfo(family="qwen2_5_vl", prompt_format={})
    d = info.to_dict()
    d["version"] = 99
    (tmp_path / "roboalign.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="newer"):
        CheckpointInfo.load(tmp_path)
    assert CheckpointInfo.from_dict(info.to_dict()) == info
