"""Stage-1 training configuration (YAML), plain dataclasses read by roboalign.config.

    model:                      # what to fine-tune
      init: tiny                # "tiny" (random tiny backbone, tokenizer trained locally) or a
                                # checkpoint folder / hub id in the local HF cache
      tiny: {family: qwen2_5_vl, hidden_size: 128, num_layers: 4}   # roboalign.policy.tiny.TinySpec
      dtype: auto               # auto | float32 | bfloat16 | float16 (weights as loaded)
      attn_implementation: null # e.g. flash_attention_2 / sdpa on GPUs
    fast:                       # FAST action tokenizer
      path: null                # a fitted tokenizer folder; null fits one on the training chunks
      vocab_size: 1024
      scale: 10.0
      max_horizon: null         # default max(64, data.horizon)
    prompt: {}                  # overrides of the backbone's roboalign.policy.prompts.PromptFormat
    data: {...}                 # roboalign.training.mixture.DataConfig
    train: {...}                # TrainConfig below

    cfg = config.load(SFTRunConfig, "configs/sft_tiny.yaml", ["train.max_steps=50"])
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

from roboalign import config
from roboalign.policy.prompts import PromptFormat
from roboalign.policy.tiny import TinySpec
from roboalign.training.mixture import DataConfig

# Weights' dtype as loaded ("auto": the checkpoint's own); shared by stages 1 and 2.
Dtype = Literal["auto", "float32", "bfloat16", "float16"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    init: str = "tiny"
    tiny: TinySpec = dataclasses.field(default_factory=TinySpec)  # used when init is "tiny"
    dtype: Dtype = "auto"
    attn_implementation: str | None = None

    def __post_init__(self) -> None:
        if not self.init:
            raise ValueError('init must be "tiny" or a checkpoint folder / hub id')


@dataclasses.dataclass(frozen=True)
class FastConfig:
    """path: a fitted FastTokenizer folder (required with several processes); otherwise one is
    fitted on the training chunks with vocab_size, scale and max_horizon (default max(64, H);
    it fixes the symbol alphabet, 2*ceil(scale*sqrt(max_horizon))+3 symbols)."""

    path: str | None = None
    vocab_size: int = 1024
    scale: float = 10.0
    max_horizon: int | None = None

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.scale <= 0:
            raise ValueError("vocab_size must be >= 1 and scale > 0")
        if self.max_horizon is not None and self.max_horizon < 1:
            raise ValueError(f"max_horizon must be >= 1 or null, got {self.max_horizon}")


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    """LoRA on the language model's linear layers (the vision tower never gets adapters).

    modules_to_save: trained in full beside the adapters; the embeddings and the LM head must
    be, or the new action tokens keep their random initial rows.
    The checkpoint folder always holds the merged weights (adapters folded in), so it reloads
    with plain from_pretrained; save_adapter also writes the adapters alone to <output>/adapter.
    """

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    modules_to_save: tuple[str, ...] = ("embed_tokens", "lm_head")
    save_adapter: bool = False

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("r and alpha must be >= 1, dropout in [0, 1)")
        if self.enabled and not self.target_modules:
            raise ValueError("target_modules must name at least one layer when LoRA is enabled")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (RoboAlign stage 1: lr 2e-5 cosine, warmup 0.03, 1 epoch, vision frozen).

    max_steps > 0 overrides num_train_epochs (-1: train num_train_epochs). bf16: "auto" = on
    when a GPU supports it. max_length: tokens per example (prompt incl. image tokens + target);
    longer ones raise.
    """

    output_dir: str = "outputs/stage1"
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-5
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 10
    save_steps: int = 0  # 0: only the final checkpoint; >0: Trainer checkpoints every N steps
    save_total_limit: int = 2
    seed: int = 0
    bf16: Literal["auto"] | bool = "auto"
    gradient_checkpointing: bool = False
    freeze_vision: bool = True
    max_length: int | None = 2048
    dataloader_num_workers: int = 0
    torch_threads: int | None = None  # CPU threads for torch (None: torch's default)
    lora: LoraConfig = dataclasses.field(default_factory=LoraConfig)
    report_to: str = "none"

    def __post_init__(self) -> None:
        if not self.output_dir:
            raise ValueError("output_dir must name the checkpoint folder to write")
        if self.max_steps < 1 and self.max_steps != -1:
            raise ValueError(f"max_steps must be -1 (train num_train_epochs) or >= 1, got {self.max_steps}")
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            raise ValueError(f"num_train_epochs must be > 0, got {self.num_train_epochs}")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps",
                     "save_total_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0:
            raise ValueError("learning_rate and max_grad_norm must be > 0")
        if not 0.0 <= self.warmup_ratio <= 1.0 or self.weight_decay < 0:
            raise ValueError("warmup_ratio must be in [0, 1] and weight_decay >= 0")
        if min(self.save_steps, self.dataloader_num_workers) < 0:
            raise ValueError("save_steps and dataloader_num_workers must be >= 0")
        if (self.max_length is not None and self.max_length < 1) or (
                self.torch_threads is not None and self.torch_threads < 1):
            raise ValueError("max_length and torch_threads must be >= 1 or null")


@dataclasses.dataclass(frozen=True)
class SFTRunConfig:
    data: DataConfig
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    fast: FastConfig = dataclasses.field(default_factory=FastConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    # Only the keys given replace the backbone's own prompt format (Qwen3-VL's has no system turn).
    prompt: dict[str, Any] = dataclasses.field(default_factory=dict, metadata=config.partial(PromptFormat))

    def __post_init__(self) -> None:
        if self.fast.path is None and self.fast.max_horizon is not None and self.fast.max_horizon < self.data.horizon:
            raise ValueError(f"fast.max_horizon ({self.fast.max_horizon}) is shorter than data.horizon "
                             f"({self.data.horizon}): the tokenizer could not encode a chunk")

    def inputs(self) -> dict[str, str]:
        """Files and folders this run reads, by key (model.init may be a hub id: not listed)."""
        out = {f"data.sources.{i}.path": s.path for i, s in enumerate(self.data.sources)}
        return {**out, "fast.path": self.fast.path} if self.fast.path else out

    @property
    def output_dir(self) -> str:
        return self.train.output_dir
