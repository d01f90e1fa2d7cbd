"""Stage-1 training configuration (YAML), as typed dataclasses.

    model:                      # what to fine-tune
      init: tiny                # "tiny" (random tiny backbone, tokenizer trained locally) or a
                                # checkpoint folder / hub id in the local HF cache
      tiny: {family: qwen2_5_vl, hidden_size: 128, num_layers: 4}   # roboalign.policy.tiny.TinySpec
      dtype: auto               # auto | float32 | bfloat16 (weights as loaded)
      attn_implementation: null # e.g. flash_attention_2 / sdpa on GPUs
    fast:                       # FAST action tokenizer
      path: null                # a fitted tokenizer folder; null fits one on the training chunks
      vocab_size: 1024
      scale: 10.0
      max_horizon: null         # default max(64, data.horizon)
    prompt: {}                  # roboalign.policy.prompts.PromptFormat overrides
    data: {...}                 # roboalign.training.mixture.DataConfig
    train: {...}                # TrainConfig below
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from roboalign.training.mixture import DataConfig


def _build(cls, d: dict[str, Any] | None, where: str):
    d = dict(d or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    for f in dataclasses.fields(cls):
        # PyYAML reads "1e-3" (no dot) as a string; float fields accept it anyway.
        if f.name in d and isinstance(d[f.name], str) and str(f.type).startswith("float"):
            try:
                d[f.name] = float(d[f.name])
            except ValueError:
                raise ValueError(f"{where}.{f.name}: expected a number, got {d[f.name]!r}") from None
    return cls(**d)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    init: str = "tiny"
    tiny: dict[str, Any] = dataclasses.field(default_factory=dict)
    dtype: str = "auto"
    attn_implementation: str | None = None


@dataclasses.dataclass(frozen=True)
class FastConfig:
    """path: a fitted FastTokenizer folder (required with several processes); otherwise one is
    fitted on the training chunks with vocab_size, scale and max_horizon (default max(64, H);
    it fixes the symbol alphabet, 2*ceil(scale*sqrt(max_horizon))+3 symbols)."""

    path: str | None = None
    vocab_size: int = 1024
    scale: float = 10.0
    max_horizon: int | None = None


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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (RoboAlign stage 1: lr 2e-5 cosine, warmup 0.03, 1 epoch, vision frozen).

    max_steps > 0 overrides num_train_epochs. bf16: "auto" = on when a GPU supports it.
    max_length: tokens per example (prompt incl. image tokens + target); longer ones raise.
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
    bf16: str | bool = "auto"
    gradient_checkpointing: bool = False
    freeze_vision: bool = True
    max_length: int | None = 2048
    dataloader_num_workers: int = 0
    torch_threads: int | None = None  # CPU threads for torch (None: torch's default)
    lora: LoraConfig = dataclasses.field(default_factory=LoraConfig)
    report_to: str = "none"


@dataclasses.dataclass(frozen=True)
class SFTRunConfig:
    model: ModelConfig
    fast: FastConfig
    data: DataConfig
    train: TrainConfig
    prompt: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SFTRunConfig":
        d = dict(d)
        unknown = set(d) - {"model", "fast", "data", "train", "prompt"}
        if unknown:
            raise ValueError(f"config: unknown sections {sorted(unknown)}; expected model, fast, prompt, data, train")
        if "data" not in d:
            raise ValueError("config: a `data:` section with sources is required")
        train = dict(d.get("train") or {})
        lora = _build(LoraConfig, train.pop("lora", None), "train.lora")
        lora = dataclasses.replace(lora, target_modules=tuple(lora.target_modules),
                                   modules_to_save=tuple(lora.modules_to_save))
        return cls(
            model=_build(ModelConfig, d.get("model"), "model"),
            fast=_build(FastConfig, d.get("fast"), "fast"),
            data=DataConfig.from_dict(d["data"]),
            train=dataclasses.replace(_build(TrainConfig, train, "train"), lora=lora),
            prompt=dict(d.get("prompt") or {}),
        )

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "SFTRunConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training config {path} not found (see configs/sft_tiny.yaml for an example)")
        d = yaml.safe_load(path.read_text()) or {}
        for dotted, value in (overrides or {}).items():
            _set_dotted(d, dotted, value)
        return cls.from_dict(d)


def _set_dotted(d: dict, dotted: str, value: Any) -> None:
    """Set d["a"]["b"] for "a.b" (CLI --set a.b=value)."""
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """["train.max_steps=5", "data.seed=1"] -> {"train.max_steps": 5, ...} (values parsed as YAML)."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ValueError(f"--set expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out
