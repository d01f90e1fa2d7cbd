"""Stage-2 (RoboAlign GRPO) configuration, YAML -> typed dataclasses. Example: configs/align_tiny.yaml

    model:     {checkpoint: outputs/stage1_tiny, dtype: auto}        # a stage-1 folder
    data:      {path: outputs/sim_data/train, stride: 1, limit: null} # the SFT robot episodes
    subset:    {fraction: 0.05, seed: 0, min_count: 8}                # the RL set (subset.py)
    reasoning: {gripper_dim: 6, decimals: 1}                          # reasoning.ReasoningStyle
    bootstrap: {steps: 0, ...}     # optional SFT on reasoning targets before RL (see below)
    rewards:   {format: 0.5, action: 0.5, l1: 0.0, l1_scale: 1.0}     # rewards.RewardWeights
    grpo:      {...}               # GrpoConfig below (TRL GRPOConfig names where they exist)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from roboalign.training.config import _build, _set_dotted
from roboalign.training.reasoning import ReasoningStyle
from roboalign.training.rewards import RewardWeights
from roboalign.training.subset import SubsetSpec


@dataclasses.dataclass(frozen=True)
class AlignModelConfig:
    checkpoint: str = ""
    dtype: str = "auto"
    attn_implementation: str | None = None


@dataclasses.dataclass(frozen=True)
class AlignDataConfig:
    """The SFT robot data (episode folders or a LeRobot-style folder; training/episodes.py)."""

    path: str = ""
    stride: int = 1
    limit: int | None = None
    only_successful: bool = False


@dataclasses.dataclass(frozen=True)
class BootstrapConfig:
    """Supervised warm-up on templated reasoning targets (training/reasoning.py) before RL.

    The paper puts a small zero-shot-CoT set in the SFT mixture so the model already writes
    <think>…</think><answer>…; a stage-1 checkpoint trained without one never does, and GRPO
    then has no format to reinforce. steps = 0 skips it (use it when stage 1 had reasoning
    data). It trains on the whole robot set (the SFT data), not only the RL subset.
    """

    steps: int = 0
    learning_rate: float = 1e-3
    batch_size: int = 8
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    max_length: int | None = 2048


@dataclasses.dataclass(frozen=True)
class GrpoConfig:
    """GRPO settings (paper: 5 samples per prompt, constant lr 1e-6, 1 epoch, all parameters).

    per_device_train_batch_size counts completions (prompts x num_generations) and must be a
    multiple of num_generations. beta: KL weight to the reference (the checkpoint RL starts
    from, loaded by path); 0 skips the reference model. epsilon: ratio clip. loss_type and
    scale_rewards as in TRL (dapo: token-level mean, EasyR1's default; group: divide the
    advantage by the group std). num_iterations: policy updates per generation batch.
    """

    output_dir: str = "outputs/stage2"
    num_generations: int = 4
    per_device_train_batch_size: int = 8
    steps_per_generation: int | None = None
    gradient_accumulation_steps: int = 1
    num_iterations: int = 1
    beta: float = 0.01
    epsilon: float = 0.2
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_completion_length: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    num_train_epochs: float = 1.0
    max_steps: int = -1
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    logging_steps: int = 1
    save_steps: int = 0
    seed: int = 0
    bf16: str | bool = "auto"
    gradient_checkpointing: bool = False
    freeze_vision: bool = False
    torch_threads: int | None = None
    log_completions: bool = False
    report_to: str = "none"

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError("grpo.num_generations must be >= 2 (the advantage compares samples of one prompt)")
        if self.per_device_train_batch_size % self.num_generations:
            raise ValueError(
                f"grpo.per_device_train_batch_size ({self.per_device_train_batch_size}) counts completions and "
                f"must be a multiple of grpo.num_generations ({self.num_generations})"
            )
        if self.beta < 0 or self.epsilon <= 0 or self.temperature <= 0:
            raise ValueError("grpo: beta must be >= 0, epsilon and temperature > 0")


@dataclasses.dataclass(frozen=True)
class AlignRunConfig:
    model: AlignModelConfig
    data: AlignDataConfig
    subset: SubsetSpec
    reasoning: ReasoningStyle
    bootstrap: BootstrapConfig
    rewards: RewardWeights
    grpo: GrpoConfig

    SECTIONS = ("model", "data", "subset", "reasoning", "bootstrap", "rewards", "grpo")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AlignRunConfig":
        d = dict(d)
        unknown = set(d) - set(cls.SECTIONS)
        if unknown:
            raise ValueError(f"align config: unknown sections {sorted(unknown)}; expected {', '.join(cls.SECTIONS)}")
        model = _build(AlignModelConfig, d.get("model"), "model")
        data = _build(AlignDataConfig, d.get("data"), "data")
        if not model.checkpoint:
            raise ValueError("align config: model.checkpoint must name a stage-1 checkpoint folder")
        if not data.path:
            raise ValueError("align config: data.path must name the robot episodes (the SFT robot data)")
        return cls(
            model=model,
            data=data,
            subset=_build(SubsetSpec, d.get("subset"), "subset"),
            reasoning=_build(ReasoningStyle, d.get("reasoning"), "reasoning"),
            bootstrap=_build(BootstrapConfig, d.get("bootstrap"), "bootstrap"),
            rewards=_build(RewardWeights, d.get("rewards"), "rewards"),
            grpo=_build(GrpoConfig, d.get("grpo"), "grpo"),
        )

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "AlignRunConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"align config {path} not found (see configs/align_tiny.yaml for an example)")
        d = yaml.safe_load(path.read_text()) or {}
        for dotted, value in (overrides or {}).items():
            _set_dotted(d, dotted, value)
        return cls.from_dict(d)
