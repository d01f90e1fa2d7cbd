"""`roboalign train plan`: a full-size run's parameters and memory per GPU, from its config alone.

    roboalign train plan --config configs/sft_qwen2_5_vl_3b.yaml --gpus 8
    roboalign train plan --config configs/head_qwen2_5_vl_7b.yaml --gpus 8 --json plan.json

The model is built on torch's meta device from transformers' config classes (written in code in
roboalign.policy.meta: no weights, no hub, seconds), with the stage's vocabulary resize (+2
markers + the FAST ids, rows padded to 64) and, for stage 3, the backbone cut after the head's
layer plus the head itself. Which model: the FULL_SIZE name found in the config's model id or
checkpoint path (e.g. outputs/stage1_qwen2_5_vl_3b), or --model.

Memory per GPU, bytes per parameter (ZeRO paper accounting, mixed precision):
  weights bf16 2, gradients bf16 2 (trainable only), optimizer 12 (fp32 master + Adam m, v;
  trainable only). ZeRO 0 replicates all three; ZeRO 2 shards gradients and optimizer over
  the GPUs; ZeRO 3 shards the weights too and gathers one block at a time (+ 2 blocks live).
  A model loaded in bf16 with plain torch AdamW (no master copy) needs 4 instead of 12.
Activations (bf16, per GPU, micro-batch b of s tokens, SDPA/flash attention: no s x s term):
  with gradient checkpointing each trained block keeps its input (b*s*h*2 B) plus one block's
  recompute working set b*s*(6h + 2*h_kv + 4*I)*2 B; without, every block keeps the working set.
  The LM head's logits add b*s*V*(2 + 4 + 4) B (bf16, the fp32 upcast in the loss, its grad).
  Stage 2 adds the frozen reference model (KL, beta > 0) and the generation KV cache (its
  logits term is an upper bound: TRL computes logits for the completion tokens only).
  Stage 3 has two phases: the frozen backbone caches features (inference, bf16), then the head
  trains alone on the cache in fp32 (4 + 4 + 8 B per parameter) with batch train.batch_size.
These are estimates to size a run (+10-20 % for the CUDA context, fragmentation, buffers), not
measurements: no GPU here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from roboalign.errors import UsageError

GB = 1024**3
STAGES = ("sft", "align", "head")
ZERO_STAGES = (0, 2, 3)
BYTES = {"weights": 2, "grads": 2, "optimizer": 12}
HEAD_BYTES = {"weights": 4, "grads": 4, "optimizer": 8}  # the head trains in fp32 (training/head.py), AdamW m, v


@dataclasses.dataclass(frozen=True)
class Part:
    params: int
    trainable: bool


def stage_of(raw: dict) -> str:
    """sft (stage 1), align (stage 2: has grpo) or head (stage 3: has head and backbone)."""
    if "grpo" in raw:
        return "align"
    if "backbone" in raw and "head" in raw:
        return "head"
    if "model" in raw and "train" in raw:
        return "sft"
    raise UsageError("the config is none of stage 1 (model + train), stage 2 (grpo) or stage 3 (backbone + head)")


def model_name(raw: dict, given: str | None) -> str:
    from roboalign.policy.meta import FULL_SIZE

    if given:
        if given not in FULL_SIZE:
            raise UsageError(f"--model {given!r}: choose one of {', '.join(FULL_SIZE)}")
        return given
    model = raw.get("model") or {}
    refs = [str(x) for x in (model.get("init"), model.get("checkpoint"), raw.get("backbone")) if x]
    for name, spec in FULL_SIZE.items():
        if any(r == spec["hub_id"] or name in r.replace("-", "_").replace(".", "_").lower() for r in refs):
            return name
    raise UsageError(f"cannot tell the full-size model from {refs or 'the config'}: pass --model "
                     f"({', '.join(FULL_SIZE)}); plans are for full-size backbones, not the tiny one")


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _resize_vocab(backbone, fast_vocab: int) -> int:
    rows = len(backbone.tokenizer) + 2 + int(fast_vocab)  # <ACTION_START>, <ACTION_END>, FAST ids
    backbone.model.resize_token_embeddings(rows, pad_to_multiple_of=64, mean_resizing=False)
    return int(backbone.model.get_input_embeddings().weight.shape[0])


def _lora_params(lm, r: int, targets) -> int:
    from torch import nn

    return sum(r * (m.in_features + m.out_features) for n, m in lm.named_modules()
               if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in targets)


def build_parts(stage: str, cfg, name: str) -> tuple[dict[str, Part], dict[str, Any]]:
    """Parameter counts by part (meta device) and the shapes the memory estimate needs."""
    from roboalign.policy.meta import FULL_SIZE, build_meta_backbone
    from roboalign.policy.vla import truncate_backbone

    bb = build_meta_backbone(None, name)
    as_published = _count(bb.model)  # before the vocabulary resize and the stage-3 cut
    fast_vocab = cfg.fast.vocab_size if stage == "sft" else 2048
    vocab_rows = _resize_vocab(bb, fast_vocab)
    model = bb.model
    tied = bool(getattr(model.config, "tie_word_embeddings", False)) or (
        model.get_output_embeddings().weight is model.get_input_embeddings().weight)
    text = bb.text_config
    lm = model.model.language_model
    if stage == "head":
        layer = cfg.feature_layer or FULL_SIZE[name]["feature_layer"]
        truncate_backbone(bb, layer)
    visual = model.model.visual
    freeze_vision = {"sft": lambda: cfg.train.freeze_vision, "align": lambda: cfg.grpo.freeze_vision,
                     "head": lambda: True}[stage]()
    llm_trains = stage != "head"
    lora = stage == "sft" and cfg.train.lora.enabled
    parts = {
        "vision_tower": Part(_count(visual) - _count(visual.merger), not freeze_vision),
        "vision_merger": Part(_count(visual.merger), not freeze_vision),
        "embed_tokens": Part(_count(lm.embed_tokens), llm_trains),
        "decoder_layers": Part(_count(lm.layers), llm_trains and not lora),
        "final_norm": Part(_count(lm.norm), llm_trains and not lora),
    }
    if stage != "head":  # stage 3 never runs the LM head (features stop at the layer)
        parts["lm_head"] = Part(0 if tied else _count(model.get_output_embeddings()), llm_trains)
    else:
        parts["final_norm"] = Part(0, False)  # cut after the layer: unused
    if lora:
        parts["lora_adapters"] = Part(_lora_params(lm, cfg.train.lora.r, cfg.train.lora.target_modules), True)
    if stage == "head":
        parts["action_head"] = Part(_head_params(cfg, bb.hidden_size), True)
    block = lm.layers[0]
    shapes = {"hidden": int(text.hidden_size), "intermediate": int(text.intermediate_size),
              "kv_dim": int(text.num_key_value_heads) * int(text.hidden_size) // int(text.num_attention_heads),
              "layers": len(lm.layers), "vocab_rows": vocab_rows, "tied_embeddings": tied,
              "block_params": _count(block), "vision_depth": len(visual.blocks),
              "vision_hidden": int(model.config.vision_config.hidden_size),
              "published_params_b": FULL_SIZE[name]["published_params_b"],
              "params_as_published_b": round(as_published / 1e9, 3)}
    return parts, shapes


def _head_params(cfg, feature_dim: int) -> int:
    import torch

    from roboalign.policy.action_head import FlowMatchingHead
    from roboalign.policy.action_head_config import HeadConfig

    sizes = dataclasses.asdict(cfg.head)
    with torch.device("meta"):
        head = FlowMatchingHead(HeadConfig(action_dim=7, horizon=cfg.data.horizon, state_dim=7,
                                           feature_dim=feature_dim, **sizes))
    return _count(head)


def activations(stage: str, cfg, shapes: dict, seq_len: int, micro_batch: int) -> dict[str, float]:
    """Per-GPU activation bytes by kind (module docstring)."""
    h, i, kv, layers, v = (shapes[k] for k in ("hidden", "intermediate", "kv_dim", "layers", "vocab_rows"))
    tokens = micro_batch * seq_len
    working = tokens * (6 * h + 2 * kv + 4 * i) * 2
    if stage == "head":  # feature caching: inference, one block's working set at a time
        return {"backbone_forward": float(working)}
    checkpointing = cfg.train.gradient_checkpointing if stage == "sft" else cfg.grpo.gradient_checkpointing
    out = {"blocks": float(layers * tokens * h * 2 + working) if checkpointing else float(layers * working),
           "logits": float(tokens * v * (2 + 4 + 4))}
    if stage == "align":  # KV cache while generating the group's completions (bf16 keys and values)
        out["generation_kv_cache"] = float(2 * layers * tokens * kv * 2)
    return out


def head_activations(cfg, shapes: dict, tokens: int = 256) -> dict[str, float]:
    """fp32 head training on cached features: the batch's features, the DiT's activations
    (~30 d-wide tensors per block and token) and its cross-attention scores."""
    b, d, n = cfg.train.batch_size, cfg.head.d_model, cfg.head.num_layers
    seq = 1 + cfg.data.horizon  # state token + action tokens
    return {"features": float(b * tokens * shapes["hidden"] * 4),
            "dit": float(b * seq * d * n * 30 * 4 + b * cfg.head.num_heads * seq * tokens * n * 4 * 2)}


def memory_per_gpu(parts: dict[str, Part], shapes: dict, acts: dict[str, float], gpus: int, zero: int,
                   reference_model: bool, nbytes: dict[str, int] = BYTES) -> dict[str, float]:
    """GB per GPU for one ZeRO stage (module docstring); nbytes: bytes per parameter."""
    total = sum(p.params for p in parts.values())
    trainable = sum(p.params for p in parts.values() if p.trainable)
    shard_w = gpus if zero >= 3 else 1
    shard_go = gpus if zero >= 2 else 1
    out = {
        "weights": nbytes["weights"] * total / shard_w,
        "grads": nbytes["grads"] * trainable / shard_go,
        "optimizer": nbytes["optimizer"] * trainable / shard_go,
    }
    if zero >= 3:  # gathered blocks: the one running and the one prefetched
        out["weights"] += 2 * nbytes["weights"] * shapes["block_params"]
    if reference_model:
        out["reference_model"] = nbytes["weights"] * total / shard_w
    out.update(acts)
    out["total"] = sum(out.values())
    return {k: round(val / GB, 2) for k, val in out.items()}


def plan(config_path: str | Path, gpus: int, model: str | None = None, seq_len: int | None = None,
         overrides: list[str] | None = None) -> dict[str, Any]:
    """The report `roboalign train plan` prints (parameters by part, memory per GPU per ZeRO stage)."""
    from roboalign import config
    from roboalign.training.align_config import AlignRunConfig
    from roboalign.training.config import SFTRunConfig
    from roboalign.training.head_config import HeadRunConfig

    raw, _ = config.read_yaml(config_path)
    if not isinstance(raw, dict):
        raise UsageError(f"{config_path}: not a mapping of sections")
    stage = stage_of(raw)
    cfg = config.load({"sft": SFTRunConfig, "align": AlignRunConfig, "head": HeadRunConfig}[stage], config_path,
                      overrides or [])
    name = model_name(raw, model)
    parts, shapes = build_parts(stage, cfg, name)
    if stage == "sft":
        micro, seq = cfg.train.per_device_train_batch_size, seq_len or 512
    elif stage == "align":
        micro, seq = cfg.grpo.per_device_train_batch_size, seq_len or 256 + cfg.grpo.max_completion_length
    else:
        micro, seq = cfg.data.feature_batch, seq_len or 256
    acts = activations(stage, cfg, shapes, seq, micro)
    reference = stage == "align" and cfg.grpo.beta > 0
    if stage == "head":  # two phases: the frozen backbone caches features, then only the head trains
        backbone = {k: p for k, p in parts.items() if k != "action_head"}
        head = {"action_head": parts["action_head"]}
        memory = {"feature_caching": memory_per_gpu(backbone, shapes, acts, 1, 0, False),
                  "head_training": memory_per_gpu(head, {**shapes, "block_params": 0}, head_activations(cfg, shapes),
                                                  1, 0, False, HEAD_BYTES)}
    else:
        memory = {f"zero{z}": memory_per_gpu(parts, shapes, acts, gpus, z, reference) for z in ZERO_STAGES}
    total = sum(p.params for p in parts.values())
    trainable = sum(p.params for p in parts.values() if p.trainable)
    return {
        "config": str(config_path), "stage": stage, "model": name, "gpus": gpus,
        "params_b": {"total": round(total / 1e9, 3), "trainable": round(trainable / 1e9, 3),
                     "frozen": round((total - trainable) / 1e9, 3),
                     "by_part": {k: {"params_b": round(p.params / 1e9, 4), "trainable": p.trainable}
                                 for k, p in parts.items()}},
        "published_params_b": shapes["published_params_b"], "model_params_b": shapes["params_as_published_b"],
        "shapes": {k: shapes[k] for k in ("hidden", "intermediate", "kv_dim", "layers", "vocab_rows",
                                          "tied_embeddings")},
        "activations_assume": {"micro_batch": micro, "seq_len": seq, "bf16": True,
                               "gradient_checkpointing": stage != "head" and bool(
                                   cfg.train.gradient_checkpointing if stage == "sft"
                                   else cfg.grpo.gradient_checkpointing)},
        "memory_gb_per_gpu": memory,
    }


def format_plan(report: dict[str, Any]) -> str:
    """Human-readable lines for the terminal."""
    p = report["params_b"]
    lines = [f"{report['config']}: stage {report['stage']}, {report['model']} "
             f"({report['model_params_b']} B parameters as published: {report['published_params_b']} B), "
             f"{report['gpus']} GPUs",
             f"parameters: total {p['total']} B, trainable {p['trainable']} B, frozen {p['frozen']} B"]
    for part, d in p["by_part"].items():
        lines.append(f"  {part:<16} {d['params_b']:>8.4f} B  {'trained' if d['trainable'] else 'frozen'}")
    a = report["activations_assume"]
    lines.append(f"memory per GPU (GB; micro-batch {a['micro_batch']} x {a['seq_len']} tokens, bf16, "
                 f"checkpointing {'on' if a['gradient_checkpointing'] else 'off'}):")
    for setting, m in report["memory_gb_per_gpu"].items():
        lines.append(f"  {setting:<16} " + ", ".join(f"{k} {v}" for k, v in m.items()))
    return "\n".join(lines)
