"""Tiny Qwen2.5-VL / Qwen3-VL backbones built locally: tests and CPU demos need no download.

The architecture is the real one (same transformers classes, same processor, same chat and
vision markers), only narrower and shallower, and the tokenizer is a byte-level BPE trained
here with HF `tokenizers` on the prompt vocabulary plus whatever text the caller adds (task
instructions, VQA questions and answers). Byte-level means any text still encodes.

    backbone = build_tiny_backbone("qwen2_5_vl", hidden_size=128, num_layers=4,
                                   corpus=instructions + vqa_texts)
    backbone.save_pretrained(out)          # reloads with Backbone.from_pretrained(out)

Defaults (text 64 hidden x 2 layers, vision 32 x 2) build in ~0.05 s; the measured CPU numbers
for larger settings are in docs/stage1.md.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from roboalign.policy import prompts

# Token ids of the chat/vision markers in the tiny vocabulary: the trainer puts special tokens
# first, in this order.
_SPECIAL_IDS = {tok: i for i, tok in enumerate(prompts.CHAT_SPECIAL_TOKENS)}


@dataclasses.dataclass(frozen=True)
class TinySpec:
    """Sizes of a tiny backbone.

    image_size: side (pixels) that images are resized to (multiple of merge*patch: 28 for
    Qwen2.5-VL, 32 for Qwen3-VL); (image_size / (merge*patch))^2 vision tokens per image.
    spatial_merge_size: patches merged per side into one LLM token (2 in every released
    Qwen-VL; 1 keeps one token per 14-px patch: 4x the vision tokens for the same vision-tower
    cost, the cheap way to let a tiny backbone see where a 5-px block is; docs/stage1.md).
    """

    family: str = "qwen2_5_vl"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int | None = None  # default 2 * hidden_size
    vision_hidden_size: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    image_size: int | None = None  # default 112 (Qwen2.5-VL) / 128 (Qwen3-VL)
    spatial_merge_size: int = 2
    vocab_size: int = 1024
    seed: int = 0


def tiny_corpus(extra: Iterable[str] = ()) -> list[str]:
    """Text the tiny tokenizer is trained on: prompt vocabulary, digits, the caller's text."""
    base = prompts.prompt_vocabulary()
    base += [" ".join(f"{v:.2f}" for v in (i / 7 - 3.0, -i / 11, i / 3)) for i in range(60)]
    base += ["yes no left right above below open closed red green blue yellow block gripper target"]
    return base + [t for t in extra if t]


def train_tiny_tokenizer(corpus: Sequence[str], vocab_size: int = 1024):
    """Byte-level BPE over `corpus`, wrapped as a transformers tokenizer with Qwen's markers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(prompts.CHAT_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeat the corpus so rare prompt words still reach the merge threshold.
    tok.train_from_iterator(list(corpus) * 4, trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=prompts.IM_END, pad_token=prompts.ENDOFTEXT, model_max_length=32768
    )
    for token in (prompts.IMAGE_PAD, prompts.VIDEO_PAD):
        if hf.convert_tokens_to_ids(token) != _SPECIAL_IDS[token]:
            raise RuntimeError(f"tiny tokenizer: {token} did not get id {_SPECIAL_IDS[token]}")
    return hf


def _mrope_section(head_dim: int, family: str) -> list[int]:
    """Split head_dim/2 rotary frequencies over (time, height, width) like the real configs:
    Qwen2.5-VL [16, 24, 24] and Qwen3-VL [24, 20, 20] for head_dim 128."""
    half = head_dim // 2
    t = half // 4 if family == "qwen2_5_vl" else (half * 3) // 8
    h = (half - t) // 2
    return [t, h, half - t - h]


def tiny_config(spec: TinySpec, vocab_size: int):
    """A transformers config of the real architecture at tiny sizes."""
    if spec.hidden_size % spec.num_heads or spec.num_heads % spec.num_kv_heads:
        raise ValueError("tiny backbone: hidden_size must divide by num_heads, num_heads by num_kv_heads")
    head_dim = spec.hidden_size // spec.num_heads
    ids = dict(
        image_token_id=_SPECIAL_IDS[prompts.IMAGE_PAD],
        video_token_id=_SPECIAL_IDS[prompts.VIDEO_PAD],
        vision_start_token_id=_SPECIAL_IDS[prompts.VISION_START],
        vision_end_token_id=_SPECIAL_IDS[prompts.VISION_END],
    )
    text = dict(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size or 2 * spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=4096,
        eos_token_id=_SPECIAL_IDS[prompts.IM_END],
        pad_token_id=_SPECIAL_IDS[prompts.ENDOFTEXT],
    )
    vision = dict(
        depth=spec.vision_layers,
        hidden_size=spec.vision_hidden_size,
        intermediate_size=2 * spec.vision_hidden_size,
        num_heads=spec.vision_heads,
        out_hidden_size=spec.hidden_size,
        spatial_merge_size=spec.spatial_merge_size,
    )
    if spec.family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        text["rope_scaling"] = {"type": "mrope", "mrope_section": _mrope_section(head_dim, spec.family)}
        text["bos_token_id"] = None
        # Window attention everywhere but the last block, as the 7B does every 8th block.
        vision.update(patch_size=14, window_size=112, fullatt_block_indexes=[spec.vision_layers - 1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    if spec.family == "qwen3_vl":
        from transformers import Qwen3VLConfig

        text["head_dim"] = head_dim
        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 5_000_000.0,
            "mrope_section": _mrope_section(head_dim, spec.family),
            "mrope_interleaved": True,
        }
        side = (spec.image_size or 128) // 16
        vision.update(
            patch_size=16,
            num_position_embeddings=max(16, side * side),
            # DeepStack: features of these vision blocks are added to the first LLM layers.
            deepstack_visual_indexes=list(range(min(spec.vision_layers, spec.num_layers) - 1)) or [0],
        )
        return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)
    raise ValueError(f"unknown tiny family {spec.family!r}: use qwen2_5_vl or qwen3_vl")


def tiny_image_processor(spec: TinySpec):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    patch = 14 if spec.family == "qwen2_5_vl" else 16
    side = spec.image_size or (112 if spec.family == "qwen2_5_vl" else 128)
    merge = spec.spatial_merge_size
    if merge not in (1, 2, 4):
        raise ValueError(f"tiny {spec.family}: spatial_merge_size must be 1, 2 or 4, got {merge}")
    if side % (merge * patch):
        raise ValueError(f"tiny {spec.family}: image_size must be a multiple of {merge * patch}, got {side}")
    extra = {} if spec.family == "qwen2_5_vl" else {"image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    # Pixel budget: at most side*side pixels (a square image becomes side x side), at least a
    # quarter of that; smart_resize keeps the aspect ratio and rounds to multiples of 2*patch.
    return Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=merge, size={"shortest_edge": side * side // 4, "longest_edge": side * side},
        **extra,
    )


def build_tiny_backbone(family: str = "qwen2_5_vl", corpus: Iterable[str] = (), **sizes):
    """A randomly initialised tiny Backbone (model + processor) of the given family."""
    import torch

    from roboalign.policy.backbone import Backbone
    from roboalign.policy.processing import build_processor

    spec = TinySpec(family=family, **sizes)
    tokenizer = train_tiny_tokenizer(tiny_corpus(corpus), spec.vocab_size)
    config = tiny_config(spec, vocab_size=len(tokenizer))
    processor = build_processor(family, tiny_image_processor(spec), tokenizer)
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as cls
    else:
        from transformers import Qwen3VLForConditionalGeneration as cls
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = cls(config)
    model.eval()
    return Backbone(model, processor, family=family)


def build_tiny_qwen2_5_vl(corpus: Iterable[str] = (), **sizes):
    return build_tiny_backbone("qwen2_5_vl", corpus, **sizes)


def build_tiny_qwen3_vl(corpus: Iterable[str] = (), **sizes):
    return build_tiny_backbone("qwen3_vl", corpus, **sizes)
