"""Stage 1: supervised fine-tuning on FAST action tokens and embodied VQA (TRL SFTTrainer).

    roboalign train sft --config configs/sft_tiny.yaml
    accelerate launch --config_file configs/accelerate/zero2.yaml -m roboalign.cli train sft --config ...

Why TRL's SFTTrainer with our own collator: SFTTrainer brings the fused LM-head loss (no full
logits in memory), token accuracy/entropy metrics and accelerate/DeepSpeed; its built-in VLM
collator renders prompts through the tokenizer's chat template, which would make the prompt
format depend on whatever template a checkpoint ships. Our collator renders with
roboalign.policy.prompts, the same code the served policy and stage 2 use, and masks the loss to
the assistant answer (training/collate.py). The dataset's "images" key makes SFTTrainer treat
it as a vision dataset and skip its own text preprocessing; everything else is stock.

Steps: open the data mixture -> fit (or load) the FAST tokenizer on the training chunks ->
build/load the backbone -> add <ACTION_START>, <ACTION_END>, <act_i> (tokenizer bridge) and
resize embeddings -> freeze the vision tower (default) / wrap in LoRA -> train -> save one
folder that reloads with from_pretrained (layout: roboalign.policy.checkpoint).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.data.frames import RobotFrames
from roboalign.policy import checkpoint as ckpt
from roboalign.policy.chat import ChatBuilder
from roboalign.training.config import SFTRunConfig
from roboalign.training.mixture import build_mixture
from roboalign.training.vqa import VQASource


@dataclasses.dataclass
class Prepared:
    backbone: Any
    bridge: Any
    builder: ChatBuilder
    mixture: Any
    robots: list[RobotFrames]
    info: ckpt.CheckpointInfo
    mean_chunk: np.ndarray | None
    mean_chunk_absolute: np.ndarray | None = None


def _corpus(sources) -> list[str]:
    """Instructions, questions and answers: the tiny tokenizer is trained on these."""
    texts: set[str] = set()
    for s in sources:
        if isinstance(s, RobotFrames):
            texts.update(ep.instruction for ep in s.episodes)
        elif isinstance(s, VQASource):
            texts.update(r["question"] for r in s.rows)
            texts.update(r["answer"] for r in s.rows)
    return sorted(texts)


def fit_or_load_fast(cfg: SFTRunConfig, robots: list[RobotFrames]):
    """(FastTokenizer, training chunks in the action frame [N, H, D] or None)."""
    from roboalign.tokenizer import FastTokenizer

    space = cfg.data.action_space
    chunks = None
    if robots:
        chunks = np.concatenate([space.to_frame(r.chunks(), r.states()) for r in robots])
    if cfg.fast.path:
        fast = FastTokenizer.from_pretrained(cfg.fast.path)
    else:
        if chunks is None:
            raise ValueError("fast.path is not set and there are no robot sources to fit a FAST tokenizer on")
        fast = FastTokenizer(scale=cfg.fast.scale, vocab_size=cfg.fast.vocab_size,
                             max_horizon=cfg.fast.max_horizon or max(64, cfg.data.horizon)).fit(chunks)
    return fast, chunks


def prepare(cfg: SFTRunConfig, log=print) -> Prepared:
    from roboalign.policy.backbone import Backbone
    from roboalign.policy.tiny import build_tiny_backbone
    from roboalign.tokenizer.bridge import ActionTokenBridge

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not cfg.fast.path:
        raise ValueError("multi-process training: fit the FAST tokenizer once (`roboalign tokenizer fit`) and set "
                         "fast.path, so that every rank trains with identical action-token ids")
    mixture, robots, sources = build_mixture(cfg.data)
    log(f"data: {len(mixture)} samples per epoch from {len(sources)} source(s) "
        f"({', '.join(f'{type(s).__name__}[{len(s)}]' for s in sources)})")
    fast, chunks = fit_or_load_fast(cfg, robots)
    log(f"FAST: vocabulary {fast.vocab_size}, scale {fast.scale}, horizon {cfg.data.horizon}, "
        f"frame {cfg.data.action_frame}")
    if cfg.model.init == "tiny":
        spec = dataclasses.asdict(cfg.model.tiny)
        backbone = build_tiny_backbone(corpus=_corpus(sources), **spec)
        trained_from = f"tiny:{json.dumps(spec, sort_keys=True)}"
    else:
        backbone = Backbone.from_pretrained(cfg.model.init, dtype=cfg.model.dtype,
                                            attn_implementation=cfg.model.attn_implementation)
        trained_from = cfg.model.init
    fmt = dataclasses.replace(backbone.prompt_format, **cfg.prompt) if cfg.prompt else backbone.prompt_format
    backbone.prompt_format = fmt
    bridge = ActionTokenBridge(fast)
    # Round the vocabulary up to a multiple of 64 on real models (tensor-core friendly rows).
    added = bridge.attach(backbone.tokenizer, backbone.model,
                          pad_to_multiple_of=None if cfg.model.init == "tiny" else 64)
    log(f"backbone: {backbone.family}, {backbone.num_layers} layers x {backbone.hidden_size}, "
        f"{sum(p.numel() for p in backbone.model.parameters()) / 1e6:.2f} M parameters, "
        f"+{added} action tokens (vocabulary {len(backbone.tokenizer)})")
    cams = cfg.data.cameras or (robots[0].cameras if robots else ())
    space = cfg.data.action_space
    first = robots[0] if robots else None
    info = ckpt.CheckpointInfo(
        family=backbone.family,
        prompt_format=fmt.to_dict(),
        cameras=tuple(cams),
        horizon=cfg.data.horizon,
        action_dim=int(chunks.shape[2]) if chunks is not None else None,
        dt=float(first.episodes[0].dt) if first else None,
        action_frame=space.frame,
        absolute_dims=space.absolute_dims,
        feature_layer=max(1, round(backbone.num_layers * 18 / 28)),
        stage="sft",
        trained_from=trained_from,
        # The arm the data was recorded on: served in metadata so a robot client knows the
        # joint order and limits the chunks are meant for.
        extra={"robot": first.episodes[0].robot} if first and first.episodes[0].robot else {},
    )
    backbone.info = info
    mean_chunk = chunks.mean(axis=0) if chunks is not None else None
    mean_abs = np.concatenate([r.chunks() for r in robots]).mean(axis=0) if robots else None
    return Prepared(backbone, bridge, ChatBuilder(bridge, fmt, space), mixture, robots, info, mean_chunk, mean_abs)


def save_checkpoint(out: str | Path, backbone, bridge, info: ckpt.CheckpointInfo,
                    mean_chunk: np.ndarray | None, mean_chunk_absolute: np.ndarray | None = None) -> Path:
    """One folder: MLLM + processor + FAST tokenizer + norm stats + mean chunk + roboalign.json."""
    out = Path(out)
    backbone.save_pretrained(out, info)
    bridge.save_pretrained(out / ckpt.FAST_DIR)
    bridge.fast.normalizer.save(out / ckpt.NORM_FILE)
    if mean_chunk is not None:
        np.save(out / ckpt.MEAN_CHUNK_FILE, mean_chunk)
    if mean_chunk_absolute is not None:
        np.save(out / ckpt.MEAN_ABS_CHUNK_FILE, mean_chunk_absolute)
    # Lets `roboalign serve --policy <folder>` (the policy registry) serve it as it is.
    from roboalign.policy.registry import CHECKPOINT_FILE

    (out / CHECKPOINT_FILE).write_text("kind: fast-token\nargs: {}\n")
    return out


class JsonlMetrics:
    """TrainerCallback writing every log record as one JSON line (output_dir/metrics.jsonl)."""

    def __new__(cls, path: Path):
        from transformers import TrainerCallback

        class _Cb(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if state.is_world_process_zero and logs:
                    rec = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
                    with open(path, "a") as f:
                        f.write(json.dumps(rec) + "\n")

        return _Cb()


def _apply_lora(model, lora):
    from peft import LoraConfig, get_peft_model

    # Regex: only the language model's linear layers (vision blocks share names like gate_proj).
    targets = rf".*language_model.*\.({'|'.join(lora.target_modules)})$"
    conf = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      modules_to_save=list(lora.modules_to_save), task_type="CAUSAL_LM")
    return get_peft_model(model, conf)


def run_sft(cfg: SFTRunConfig, log=print) -> dict[str, Any]:
    """Train and save; returns a summary (also written to output_dir/train_summary.json)."""
    import torch
    from trl import SFTConfig, SFTTrainer

    from roboalign.policy.collate import ChatCollator
    from roboalign.training.collate import ChatDataset

    t = cfg.train
    if t.torch_threads:
        torch.set_num_threads(int(t.torch_threads))
    out = Path(t.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    torch.manual_seed(t.seed)
    prep = prepare(cfg, log)
    bb = prep.backbone
    if t.freeze_vision:
        bb.freeze_vision(True)
    model = bb.model
    if t.lora.enabled:
        model = _apply_lora(model, t.lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"trainable parameters: {trainable / 1e6:.2f} M (vision {'frozen' if t.freeze_vision else 'trained'}"
        f"{', LoRA' if t.lora.enabled else ''})")
    bf16 = (torch.cuda.is_available() and torch.cuda.is_bf16_supported()) if t.bf16 == "auto" else bool(t.bf16)
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=t.num_train_epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler_type,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.logging_steps,
        save_strategy="steps" if t.save_steps > 0 else "no",
        save_steps=t.save_steps if t.save_steps > 0 else 500,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        bf16=bf16,
        activation_checkpointing=t.gradient_checkpointing,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,  # enforced by ChatCollator, which refuses instead of cutting image tokens
        dataloader_num_workers=t.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=t.report_to,
    )
    dataset = ChatDataset(prep.mixture, prep.builder)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset.as_hf_dataset(),
        processing_class=bb.processor,
        data_collator=ChatCollator(bb.processor, t.max_length),
        callbacks=[JsonlMetrics(out / "metrics.jsonl")],
    )
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    summary = {"global_step": int(result.global_step), "train_loss": float(result.training_loss),
               "train_seconds": round(seconds, 1), "samples_per_epoch": len(dataset), "trainable_params": trainable}
    if trainer.accelerator.is_main_process:
        final = trainer.accelerator.unwrap_model(trainer.model)
        if t.lora.enabled:
            if t.lora.save_adapter:
                final.save_pretrained(out / "adapter")  # adapters + trained embeddings/head (peft format)
            final = final.merge_and_unload()
        bb.model = final
        bb.freeze_vision(False)  # requires_grad is not saved, but a reloaded model starts clean
        save_checkpoint(out, bb, prep.bridge, prep.info, prep.mean_chunk, prep.mean_chunk_absolute)
        losses = [json.loads(x).get("loss") for x in (out / "metrics.jsonl").read_text().splitlines()] \
            if (out / "metrics.jsonl").is_file() else []
        losses = [x for x in losses if x is not None]
        summary.update(first_logged_loss=losses[0] if losses else None, last_logged_loss=losses[-1] if losses else None)
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
        log(f"saved {out} ({summary['global_step']} steps in {seconds:.0f} s, "
            f"loss {summary['first_logged_loss']} -> {summary['last_logged_loss']})")
    return summary


__all__ = ["run_sft", "prepare", "save_checkpoint", "fit_or_load_fast"]
