"""Stage 2: RoboAlign alignment with GRPO on action-token accuracy (TRL GRPOTrainer).

    roboalign train align --config configs/align_tiny.yaml
    accelerate launch --config_file configs/accelerate/<file>.yaml -m roboalign.cli train align --config ...

Steps: load the stage-1 checkpoint (Backbone + FAST bridge) -> open the SFT robot data ->
[optional bootstrap: SFT on templated reasoning targets, saved to OUT/bootstrap so the KL
reference can be loaded by path] -> draw the RL subset (seeded fraction) -> GRPO with the
format + prefix-action (+ optional decoded-L1) rewards -> save OUT in the stage-1 layout
(roboalign.policy.checkpoint; stage="align"), reloadable by Backbone.from_pretrained and
usable by stage 3.

How images reach TRL: GRPOTrainer wants conversational prompts plus an "images" column of PIL
images; it fills the {"type": "image"} placeholders of the user turn and renders the chat
with the processor's chat template. CHAT_TEMPLATE below renders exactly the text of
roboalign.policy.prompts.render (checked on the first row), so RL sees the prompts SFT and the
served policy see. Rewards read completion token ids (rewards.py explains why).

Per-step metrics (OUT/metrics.jsonl, one line per logging step, TRL's names kept too):
reward, reward/format, reward/action, reward/l1, format_rate, valid_action_rate,
invalid_rate (no action span), exact_rate, action_prefix (mean r_action, also when it is not
rewarded), completion_length, kl, clip_ratio, learning_rate.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.policy import checkpoint as ckpt
from roboalign.policy import prompts
from roboalign.policy.reasoning import ReasoningChatBuilder
from roboalign.training.align_config import AlignRunConfig
from roboalign.training.rewards import RewardFunctions
from roboalign.training.subset import sample_rl_subset

# Renders ChatML exactly like prompts.render: text parts verbatim, one vision block per image.
CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{{- '<|im_start|>' + m['role'] + '\n' -}}"
    "{%- if m['content'] is string -%}{{- m['content'] -}}"
    "{%- else -%}{%- for c in m['content'] -%}"
    "{%- if c['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif c['type'] == 'text' -%}{{- c['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)

METRIC_NAMES = {  # ours <- TRL's
    "reward": "reward",
    "reward/format": "rewards/format/mean",
    "reward/action": "rewards/action/mean",
    "reward/l1": "rewards/l1/mean",
    "format_rate": "rewards/format/mean",  # r_format is 0/1, so its mean is the rate
    "valid_action_rate": "action/valid_rate",
    "invalid_rate": "action/invalid_rate",
    "exact_rate": "action/exact_rate",
    "action_prefix": "action/prefix_mean",  # r_action, logged even when it is not in the reward
    "completion_length": "completions/mean_length",
    "kl": "kl",
    "clip_ratio": "clip_ratio/region_mean",
    "learning_rate": "learning_rate",
}


def chat_messages(user_text: str, cameras, fmt: prompts.PromptFormat) -> list[dict]:
    """Conversational prompt whose CHAT_TEMPLATE rendering equals prompts.render(...).prompt."""
    content: list[dict] = []
    for cam in cameras:
        if fmt.label_cameras:
            content.append({"type": "text", "text": f"{cam}: "})
        content += [{"type": "image"}, {"type": "text", "text": "\n"}]
    content.append({"type": "text", "text": user_text})
    # Content as lists everywhere: a datasets (arrow) column cannot mix strings and lists.
    msgs = [] if fmt.system is None else [{"role": "system", "content": [{"type": "text", "text": fmt.system}]}]
    return msgs + [{"role": "user", "content": content}]


@dataclasses.dataclass
class Loaded:
    backbone: Any
    bridge: Any
    builder: ReasoningChatBuilder
    frames: Any  # data.frames.RobotFrames
    mean_chunk: np.ndarray | None


def load_stage1(checkpoint: str | Path, cfg: AlignRunConfig) -> Loaded:
    """Backbone, bridge and the robot frames of a stage-1 (or earlier stage-2) checkpoint."""
    from roboalign.data.sources import open_robot_source
    from roboalign.policy.backbone import Backbone
    from roboalign.policy.chat import ActionSpace
    from roboalign.tokenizer.bridge import ActionTokenBridge

    folder = Path(checkpoint)
    if not (folder / ckpt.FAST_DIR).is_dir():
        raise FileNotFoundError(
            f"{folder} is not a RoboAlign checkpoint with action tokens ({ckpt.FAST_DIR}/ missing): "
            "pass the output folder of `roboalign train sft`"
        )
    bb = Backbone.from_pretrained(folder, dtype=cfg.model.dtype, attn_implementation=cfg.model.attn_implementation)
    if bb.info is None or bb.info.horizon is None:
        raise ValueError(f"{folder}/{ckpt.INFO_FILE} lacks the action horizon: not a stage-1 action checkpoint")
    bridge = ActionTokenBridge.from_pretrained(folder / ckpt.FAST_DIR, tokenizer=bb.tokenizer)
    space = ActionSpace(bb.info.horizon, bb.info.action_frame, bb.info.absolute_dims)
    d = cfg.data
    frames = open_robot_source(d.path, bb.info.horizon, bb.info.cameras or None, d.stride, d.only_successful, d.limit)
    mean_path = folder / ckpt.MEAN_CHUNK_FILE
    mean_chunk = np.load(mean_path) if mean_path.is_file() else None
    builder = ReasoningChatBuilder(bridge, bb.prompt_format, space, cfg.reasoning)
    return Loaded(bb, bridge, builder, frames, mean_chunk)


def grpo_rows(loaded: Loaded, indices) -> list[dict]:
    """One GRPO row per robot frame: prompt, images, target_ids, target_actions, source."""
    from roboalign.policy.backbone import to_pil

    b, fast = loaded.builder, loaded.bridge.fast
    rows = []
    for i in indices:
        s = loaded.frames[int(i)]
        fast_ids = b.fast_ids(s)
        rows.append({
            "prompt": chat_messages(b.prompt_text(s), s.cameras, b.fmt),
            "images": [to_pil(im) for im in s.images],
            "target_ids": loaded.bridge.fast_to_llm(fast_ids),
            "target_actions": fast.normalizer.normalize(b.space.to_frame(s.chunk, s.state)).tolist(),
            "source": s.source,
        })
    return rows


def check_prompt_rendering(processor, row: dict, sample, builder: ReasoningChatBuilder) -> None:
    """The chat template must reproduce prompts.render byte for byte (else RL sees new prompts)."""
    from trl.data_utils import prepare_multimodal_messages

    msgs = prepare_multimodal_messages(row["prompt"], images=row["images"])
    got = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    want = prompts.render(builder.prompt_text(sample), sample.cameras, None, builder.fmt).prompt
    if got != want:
        raise RuntimeError(f"GRPO prompt rendering drifted from prompts.render:\n{got!r}\n!=\n{want!r}")


def reward_functions(loaded: Loaded, weights) -> RewardFunctions:
    tok, bridge, info = loaded.backbone.tokenizer, loaded.bridge, loaded.backbone.info

    def decode_span(span_ids):
        res = bridge.decode_span(bridge.extract_from_ids([bridge.start_id, *span_ids, bridge.end_id]),
                                 info.horizon, info.action_dim)
        return res.normalized if res.valid else None

    def span_symbols(span_ids):
        span = bridge.extract_from_ids([bridge.start_id, *span_ids, bridge.end_id])
        return bridge.fast.symbols(span.fast_ids) if span.valid else None

    return RewardFunctions(
        decode_text=lambda ids: tok.decode(list(ids), skip_special_tokens=False),
        start_id=bridge.start_id,
        end_id=bridge.end_id,
        stop_ids=[tok.convert_tokens_to_ids(prompts.IM_END), tok.pad_token_id],
        end_strings=[prompts.IM_END, prompts.ENDOFTEXT],
        decode_span=decode_span,
        span_symbols=span_symbols,
        weights=weights,
    )


def metrics_callback(path: Path):
    """TrainerCallback: one JSON line per log with our metric names (METRIC_NAMES) + TRL's."""
    from transformers import TrainerCallback

    class AlignMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not (state.is_world_process_zero and logs):
                return
            ours = {k: logs[v] for k, v in METRIC_NAMES.items() if v in logs}
            with open(path, "a") as f:
                f.write(json.dumps({"step": state.global_step, "time": time.time(), **ours, "trl": logs}) + "\n")

    return AlignMetrics()


def _bf16(flag) -> bool:
    import torch

    return (torch.cuda.is_available() and torch.cuda.is_bf16_supported()) if flag == "auto" else bool(flag)


def bootstrap_reasoning(loaded: Loaded, cfg: AlignRunConfig, out: Path, log=print) -> Path:
    """SFT on reasoning targets (BootstrapConfig), saved as a checkpoint; returns its folder."""
    from trl import SFTConfig, SFTTrainer

    from roboalign.policy.collate import ChatCollator
    from roboalign.training.collate import ChatDataset
    from roboalign.training.sft import JsonlMetrics, save_checkpoint

    b, g = cfg.bootstrap, cfg.grpo
    folder = out / "bootstrap"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").unlink(missing_ok=True)
    args = SFTConfig(
        output_dir=str(folder), max_steps=b.steps, per_device_train_batch_size=b.batch_size,
        learning_rate=b.learning_rate, lr_scheduler_type=b.lr_scheduler_type, warmup_steps=b.warmup_ratio,
        logging_steps=max(1, b.steps // 10), save_strategy="no", seed=g.seed, bf16=_bf16(g.bf16),
        remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
        report_to=g.report_to,
    )
    bb = loaded.backbone
    bb.freeze_vision(True)
    trainer = SFTTrainer(model=bb.model, args=args, train_dataset=ChatDataset(loaded.frames, loaded.builder).as_hf_dataset(),
                         processing_class=bb.processor, data_collator=ChatCollator(bb.processor, b.max_length),
                         callbacks=[JsonlMetrics(folder / "metrics.jsonl")])
    t0 = time.perf_counter()
    trainer.train()
    log(f"bootstrap: {b.steps} reasoning SFT steps in {time.perf_counter() - t0:.0f} s")
    if trainer.accelerator.is_main_process:
        bb.model = trainer.accelerator.unwrap_model(trainer.model)
        bb.freeze_vision(False)
        info = dataclasses.replace(bb.info, stage="sft+reasoning", trained_from=str(cfg.model.checkpoint))
        save_checkpoint(folder, bb, loaded.bridge, info, loaded.mean_chunk)
    trainer.accelerator.wait_for_everyone()
    return folder


def make_trainer(loaded: Loaded, rows: list[dict], rewards: RewardFunctions, g, out: Path, sample=None):
    """A GRPOTrainer over `rows` (grpo_rows) with the reward components of `rewards`."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    bb = loaded.backbone
    bb.processor.chat_template = CHAT_TEMPLATE
    # TRL tokenises prompts left-padded for generation but re-runs the processor with its
    # default padding side for the training forward pass, and takes mm_token_type_ids (which
    # place Qwen's 3-D rope positions) from that second call. A right-padding tokenizer then
    # shifts the image span of shorter prompts: wrong rope positions, or a crash in
    # get_rope_index when prompt lengths differ by more than the text before the image.
    bb.tokenizer.padding_side = "left"
    if sample is not None:
        check_prompt_rendering(bb.processor, rows[0], sample, loaded.builder)
    funcs, weights = rewards.functions()
    if g.freeze_vision:
        bb.freeze_vision(True)
    bb.model.train()
    args = GRPOConfig(
        output_dir=str(out), num_generations=g.num_generations,
        per_device_train_batch_size=g.per_device_train_batch_size, steps_per_generation=g.steps_per_generation,
        gradient_accumulation_steps=g.gradient_accumulation_steps, num_iterations=g.num_iterations,
        beta=g.beta, epsilon=g.epsilon, learning_rate=g.learning_rate, lr_scheduler_type=g.lr_scheduler_type,
        warmup_steps=g.warmup_ratio, weight_decay=g.weight_decay, max_grad_norm=g.max_grad_norm,
        max_completion_length=g.max_completion_length, temperature=g.temperature, top_p=g.top_p, top_k=g.top_k,
        num_train_epochs=g.num_train_epochs, max_steps=g.max_steps, loss_type=g.loss_type,
        scale_rewards=g.scale_rewards, reward_weights=weights, logging_steps=g.logging_steps,
        save_strategy="steps" if g.save_steps > 0 else "no", save_steps=g.save_steps or 500, seed=g.seed,
        bf16=_bf16(g.bf16), activation_checkpointing=g.gradient_checkpointing, log_completions=g.log_completions,
        report_to=g.report_to, remove_unused_columns=False,
    )
    return GRPOTrainer(model=bb.model, reward_funcs=funcs, args=args, train_dataset=datasets.Dataset.from_list(rows),
                       processing_class=bb.processor, callbacks=[metrics_callback(out / "metrics.jsonl")])


def run_align(cfg: AlignRunConfig, log=print) -> dict[str, Any]:
    """Bootstrap (optional), GRPO, save; returns a summary (also OUT/align_summary.json)."""
    import torch

    from roboalign.training.sft import save_checkpoint

    g = cfg.grpo
    if g.torch_threads:
        torch.set_num_threads(int(g.torch_threads))
    torch.manual_seed(g.seed)
    out = Path(g.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    start = Path(cfg.model.checkpoint)
    loaded = load_stage1(start, cfg)
    log(f"stage-1 checkpoint {start}: {loaded.backbone.family}, {loaded.backbone.num_layers} layers, "
        f"{len(loaded.frames)} robot frames in {cfg.data.path}")
    if cfg.bootstrap.steps > 0:
        start = bootstrap_reasoning(loaded, cfg, out, log)
        loaded = load_stage1(start, cfg)  # fresh weights from disk: the KL reference is this folder

    episodes = [loaded.frames.episodes[e].name for e, _ in loaded.frames.index]
    idx = sample_rl_subset(episodes, cfg.subset)
    rows = grpo_rows(loaded, idx)
    log(f"RL subset: {len(rows)} frames ({100 * len(rows) / len(episodes):.2f}% of {len(episodes)}) "
        f"from {len(set(episodes[i] for i in idx))} episodes, seed {cfg.subset.seed}")
    bb = loaded.backbone
    rewards = reward_functions(loaded, cfg.rewards)
    padding_side = bb.tokenizer.padding_side
    trainer = make_trainer(loaded, rows, rewards, g, out, sample=loaded.frames[int(idx[0])])
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    summary = {"global_step": int(result.global_step), "train_seconds": round(seconds, 1), "rl_frames": len(rows),
               "robot_frames": len(episodes), "started_from": str(start), "model_checkpoint": cfg.model.checkpoint,
               "config": dataclasses.asdict(cfg)}
    if trainer.accelerator.is_main_process:
        bb.model = trainer.accelerator.unwrap_model(trainer.model)
        bb.freeze_vision(False)
        bb.tokenizer.padding_side = padding_side  # save the tokenizer as stage 1 wrote it
        info = dataclasses.replace(bb.info, stage="align", trained_from=str(start),
                                   extra={**bb.info.extra, "align": {"rl_frames": len(rows), "steps": summary["global_step"]}})
        save_checkpoint(out, bb, loaded.bridge, info, loaded.mean_chunk)
        _summarise_metrics(out / "metrics.jsonl", summary)
        (out / "align_summary.json").write_text(json.dumps(summary, indent=2))
        log(f"saved {out} ({summary['global_step']} GRPO steps in {seconds:.0f} s)")
    return summary


def _summarise_metrics(path: Path, summary: dict) -> None:
    if not path.is_file():
        return
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    recs = [r for r in recs if "reward" in r]
    if recs:
        k = max(1, len(recs) // 4)
        for name in ("reward", "reward/format", "reward/action", "reward/l1", "action_prefix", "valid_action_rate",
                     "completion_length", "kl"):
            vals = [r[name] for r in recs if name in r]
            if vals:
                summary[f"{name} first/last quarter"] = [float(np.mean(vals[:k])), float(np.mean(vals[-k:]))]


__all__ = ["run_align", "make_trainer", "CHAT_TEMPLATE", "chat_messages", "grpo_rows", "reward_functions", "load_stage1"]
