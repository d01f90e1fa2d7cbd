"""Full-size backbones without weights: Qwen2.5-VL-7B and Qwen3-VL-8B on the meta device.

Nothing can be downloaded here, yet the code path that trains and serves a 7B model must be
right. These configs are written in code from the published checkpoints' config.json /
preprocessor_config.json; the model is instantiated on torch's meta device (shapes only, no
memory), and a stand-in tokenizer reproduces the real vocabulary layout (151,643 byte-level
ids + Qwen's special tokens at their real ids), so that:

- prompt building runs through the real processor class with the real patch/merge sizes and
  the image placeholder ids the model expects;
- layer selection resolves and runs (text-only forward on meta up to the chosen block);
- vocabulary resizing (+2 markers + FAST ids) grows the embeddings and the untied LM head.

    report = check_full_size("qwen2_5_vl", fast_tokenizer)   # dict of shapes; raises on mismatch
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from roboalign.policy import prompts

# Qwen2 tokenizer layout: 151,643 byte-level BPE ids, then these specials (ids 151643...).
QWEN_SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)
QWEN3_EXTRA = ("<tool_response>", "</tool_response>", "<think>", "</think>")
N_REGULAR = 151643
MARKER_IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
                  vision_end_token_id=151653)

# Which decoder block stage 3 reads: RoboAlign uses 18 of 28 (7B); the same depth ratio on 36.
FEATURE_LAYER = {"qwen2_5_vl": 18, "qwen3_vl": 23}
# Named full-size configurations: family, config builder name, feature layer, published size
# (parameters, from the model cards: 3.75 B and 8.29 B with the untied 7B LM head).
FULL_SIZE = {
    "qwen2_5_vl_3b": {"family": "qwen2_5_vl", "config": "qwen2_5_vl_3b_config", "feature_layer": 23,
                      "hub_id": "Qwen/Qwen2.5-VL-3B-Instruct", "published_params_b": 3.75},
    "qwen2_5_vl_7b": {"family": "qwen2_5_vl", "config": "qwen2_5_vl_7b_config", "feature_layer": 18,
                      "hub_id": "Qwen/Qwen2.5-VL-7B-Instruct", "published_params_b": 8.29},
    "qwen3_vl_8b": {"family": "qwen3_vl", "config": "qwen3_vl_8b_config", "feature_layer": 23,
                    "hub_id": "Qwen/Qwen3-VL-8B-Instruct", "published_params_b": 8.77},
}


def full_size_config(name: str):
    """The transformers config of a FULL_SIZE entry (written in code; nothing is downloaded)."""
    if name not in FULL_SIZE:
        raise ValueError(f"unknown full-size model {name!r}: choose one of {', '.join(FULL_SIZE)}")
    return globals()[FULL_SIZE[name]["config"]]()


def qwen2_5_vl_3b_config():
    """Qwen/Qwen2.5-VL-3B-Instruct config.json, in code (tied embeddings, 2 KV heads)."""
    from transformers import Qwen2_5_VLConfig

    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
                rms_norm_eps=1e-6, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
                rope_theta=1_000_000.0, sliding_window=32768, max_window_layers=70,
                bos_token_id=151643, eos_token_id=151645, tie_word_embeddings=True)
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                  fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, tokens_per_second=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **MARKER_IDS)


def qwen2_5_vl_7b_config():
    """Qwen/Qwen2.5-VL-7B-Instruct config.json, in code."""
    from transformers import Qwen2_5_VLConfig

    text = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                rms_norm_eps=1e-6, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
                rope_theta=1_000_000.0, sliding_window=32768, max_window_layers=28,
                bos_token_id=151643, eos_token_id=151645)
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                  fullatt_block_indexes=[7, 15, 23, 31], window_size=112, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, tokens_per_second=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **MARKER_IDS)


def qwen3_vl_8b_config():
    """Qwen/Qwen3-VL-8B-Instruct config.json, in code."""
    from transformers import Qwen3VLConfig

    text = dict(vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=262144,
                rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0,
                                                    "mrope_section": [24, 20, 20], "mrope_interleaved": True})
    vision = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096,
                  patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304,
                  deepstack_visual_indexes=[8, 16, 24], hidden_act="gelu_pytorch_tanh")
    return Qwen3VLConfig(text_config=text, vision_config=vision, **MARKER_IDS)


def full_size_image_processor(family: str):
    """The checkpoints' preprocessor_config.json, with the PIL pipeline (no torchvision)."""
    from roboalign.policy.processing import image_processor_from_dict

    if family == "qwen2_5_vl":
        return image_processor_from_dict({
            "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "size": {"shortest_edge": 3136, "longest_edge": 12845056}})
    return image_processor_from_dict({
        "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2, "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3, "size": {"shortest_edge": 65536, "longest_edge": 16777216}})


def stand_in_tokenizer(family: str):
    """A tokenizer with Qwen's vocabulary layout: ids 0..255 are the byte-level alphabet (so any
    text encodes, one token per byte), 256..151642 are unused fillers, then the specials at their
    real ids. Same length as the real tokenizer (151,665 for Qwen2.5-VL, 151,669 for Qwen3-VL)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({f"<|unused_{i}|>": i for i in range(len(alphabet), N_REGULAR)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = QWEN_SPECIALS + (QWEN3_EXTRA if family == "qwen3_vl" else ())
    tok.add_special_tokens(list(specials))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=prompts.IM_END, pad_token=prompts.ENDOFTEXT)
    got = hf.convert_tokens_to_ids(prompts.IMAGE_PAD)
    if got != MARKER_IDS["image_token_id"]:
        raise RuntimeError(f"stand-in tokenizer: <|image_pad|> got id {got}, expected 151655")
    return hf


def build_meta_backbone(family: str, name: str | None = None, device: str = "meta", dtype=None):
    """Backbone with a full-size model on the meta device (or, on a GPU, `device` with random
    weights in `dtype`) and the stand-in processor. name: a FULL_SIZE entry (default: the
    family's 7B/8B)."""
    import torch

    from roboalign.policy.backbone import Backbone, _default_format, model_class
    from roboalign.policy.processing import build_processor

    name = name or ("qwen2_5_vl_7b" if family == "qwen2_5_vl" else "qwen3_vl_8b")
    config = full_size_config(name)
    family = FULL_SIZE[name]["family"]
    previous = torch.get_default_dtype()
    try:
        if dtype is not None:
            torch.set_default_dtype(dtype)  # build in dtype directly: a 7B in fp32 first would double the memory
        with torch.device(device):
            model = model_class(family)(config)
    finally:
        torch.set_default_dtype(previous)
    processor = build_processor(family, full_size_image_processor(family), stand_in_tokenizer(family))
    return Backbone(model, processor, family=family, prompt_format=_default_format(family))


def check_full_size(family: str, fast, image_hw: tuple[int, int] = (224, 224), layer: int | None = None) -> dict[str, Any]:
    """Run prompt building, layer selection and vocabulary resizing on a meta-device model.

    fast: a fitted FastTokenizer (its vocabulary size is what gets added). Raises AssertionError
    on any inconsistency; returns the shapes it checked.
    """
    import torch

    from roboalign.core import Observation
    from roboalign.tokenizer.bridge import ActionTokenBridge

    t0 = time.perf_counter()
    bb = build_meta_backbone(family)
    cfg = bb.model.config
    rep: dict[str, Any] = {"family": family, "params_b": round(sum(p.numel() for p in bb.model.parameters()) / 1e9, 3),
                           "num_layers": bb.num_layers, "hidden_size": bb.hidden_size}

    # 1. prompt building through the real processor: one image per camera, state as text.
    rng = np.random.default_rng(0)
    obs = Observation(images={c: rng.integers(0, 255, (*image_hw, 3), dtype=np.uint8) for c in ("front", "wrist")},
                      joint_positions=np.zeros(7), instruction="touch the red block")
    chat, images = bb.chat_for(obs)
    enc = bb.processor(text=[chat.prompt], images=images, return_tensors="pt", add_special_tokens=False)
    merge = cfg.vision_config.spatial_merge_size
    expected_img_tokens = int(enc["image_grid_thw"].prod(-1).sum()) // merge**2
    n_img_tokens = int((enc["input_ids"] == cfg.image_token_id).sum())
    assert n_img_tokens == expected_img_tokens, (n_img_tokens, expected_img_tokens)
    patch_in = bb.vision_tower.patch_embed.proj.weight.shape
    vc = cfg.vision_config
    assert enc["pixel_values"].shape[1] == vc.in_channels * vc.temporal_patch_size * vc.patch_size**2 \
        == patch_in[1] * int(np.prod(patch_in[2:])), (enc["pixel_values"].shape, patch_in)
    rep.update(prompt_tokens=int(enc["input_ids"].shape[1]), image_tokens=n_img_tokens,
               image_grid_thw=enc["image_grid_thw"].tolist(), pixel_values=list(enc["pixel_values"].shape))

    # 2. vocabulary resizing: +2 markers + every FAST id, embeddings and LM head grow together.
    tok_before, emb_before = len(bb.tokenizer), bb.model.get_input_embeddings().weight.shape[0]
    bridge = ActionTokenBridge(fast)
    # mean_resizing samples new rows from the old rows' covariance, which needs real values.
    added = bridge.attach(bb.tokenizer, bb.model, pad_to_multiple_of=64, mean_resizing=False)
    emb_after = bb.model.get_input_embeddings().weight.shape
    head_after = bb.model.get_output_embeddings().weight.shape
    assert added == 2 + fast.vocab_size and len(bb.tokenizer) == tok_before + added
    assert emb_after[0] >= len(bb.tokenizer) and emb_after[0] % 64 == 0 and head_after == emb_after
    span = bridge.span_ids(fast.encode(np.zeros((16, 7))))
    assert max(span) < emb_after[0] and bb.tokenizer.decode(span[:1]) == "<ACTION_START>"
    rep.update(tokenizer_before=tok_before, tokenizer_after=len(bb.tokenizer), embedding_rows_before=emb_before,
               embedding_rows_after=int(emb_after[0]), lm_head_rows_after=int(head_after[0]), added_tokens=added)

    # 3. layer selection: run the text model on meta up to the chosen block (stops there).
    k = bb.resolve_layer(FEATURE_LAYER[family] if layer is None else layer)
    ids = torch.tensor([bb.tokenizer(chat.prompt.replace(prompts.IMAGE_PAD, ""))["input_ids"]], device="meta")
    # A prepared 4-D additive mask: mask creation from a 2-D one inspects values, which meta lacks.
    mask4d = torch.zeros((1, 1, ids.shape[1], ids.shape[1]), device="meta")
    feats = bb.features_from_inputs({"input_ids": ids, "attention_mask": mask4d}, k)
    assert tuple(feats.hidden.shape) == (1, ids.shape[1], bb.hidden_size), feats.hidden.shape
    rep.update(feature_layer=k, feature_shape=list(feats.hidden.shape), seconds=round(time.perf_counter() - t0, 2))
    return rep
