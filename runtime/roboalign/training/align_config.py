"""Stage-2 (RoboAlign GRPO) configuration, plain dataclasses read by roboalign.config.
Example: configs/align_tiny.yaml

    model:     {checkpoint: outputs/stage1_tiny, dtype: auto}        # a stage-1 folder
    data:      {path: outputs/sim_data/train, stride: 1, limit: null} # the SFT robot episodes
    subset:    {fraction: 0.05, seed: 0, min_count: 8}                # the RL set (subset.py)
    reasoning: {gripper_dim: 6, decimals: 1}                          # reasoning.ReasoningStyle
    bootstrap: {steps: 0, ...}     # optional SFT on reasoning targets before RL (see below)
    rewards:   {format: 0.5, action: 0.5, l1: 0.0, l1_scale: 1.0}     # rewards.RewardWeights
    grpo:      {...}               # GrpoConfig below (TRL GRPOConfig names where they exist)

    cfg = config.load(AlignRunConfig, "configs/align_tiny.yaml", ["grpo.max_steps=20"])
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from roboalign.policy.reasoning import ReasoningStyle
from roboalign.training.config import Dtype
from roboalign.training.rewards import RewardWeights
from roboalign.training.subset import SubsetSpec


@dataclasses.dataclass(frozen=True)
class AlignModelConfig:
    checkpoint: str  # the stage-1 checkpoint folder RL starts from
    dtype: Dtype = "auto"
    attn_implementation: str | None = None

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ValueError("checkpoint must name a stage-1 checkpoint folder")


@dataclasses.dataclass(frozen=True)
class AlignDataConfig:
    """The SFT robot data (episode folders or a LeRobot-style folder; training/episodes.py)."""

    path: str
    stride: int = 1
    limit: int | None = None
    only_successful: bool = False

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path must name the robot episodes (the SFT robot data)")
        if self.stride < 1 or (self.limit is not None and self.limit < 1):
            raise ValueError("stride must be >= 1 and limit >= 1 or null")


@dataclasses.dataclass(frozen=True)
class BootstrapConfig:
    """Supervised warm-up on templated reasoning targets (policy/reasoning.py) before RL.

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

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("steps must be >= 0, batch_size >= 1 and learning_rate > 0")
        if not 0.0 <= self.warmup_ratio <= 1.0 or (self.max_length is not None and self.max_length < 1):
            raise ValueError("warmup_ratio must be in [0, 1] and max_length >= 1 or null")


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
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    logging_steps: int = 1
    save_steps: int = 0
    seed: int = 0
    bf16: Literal["auto"] | bool = "auto"
    gradient_checkpointing: bool = False
    freeze_vision: bool = False
    torch_threads: int | None = None
    log_completions: bool = False
    report_to: str = "none"

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2 (the advantage compares samples of one prompt)")
        if self.per_device_train_batch_size % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size ({self.per_device_train_batch_size}) counts completions and "
                f"must be a multiple of num_generations ({self.num_generations})"
            )
        if self.beta < 0 or self.epsilon <= 0 or self.temperature <= 0:
            raise ValueError("beta must be >= 0, epsilon and temperature > 0")
        if self.max_steps < 1 and self.max_steps != -1:
            raise ValueError(f"max_steps must be -1 (train num_train_epochs) or >= 1, got {self.max_steps}")
        for name in ("gradient_accumulation_steps", "num_iterations", "max_completion_length", "logging_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError("learning_rate and max_grad_norm must be > 0, top_p in (0, 1]")
        if min(self.top_k, self.save_steps, self.weight_decay) < 0 or not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError("top_k, save_steps and weight_decay must be >= 0, warmup_ratio in [0, 1]")
        if (self.steps_per_generation is not None and self.steps_per_generation < 1) or (
                self.torch_threads is not None and self.torch_threads < 1):
            raise ValueError("steps_per_generation and torch_threads must be >= 1 or null")


@dataclasses.dataclass(frozen=True)
class AlignRunConfig:
    model: AlignModelConfig
    data: AlignDataConfig
    subset: SubsetSpec = dataclasses.field(default_factory=SubsetSpec)
    reasoning: ReasoningStyle = dataclasses.field(default_factory=ReasoningStyle)
    bootstrap: BootstrapConfig = dataclasses.field(default_factory=BootstrapConfig)
    rewards: RewardWeights = dataclasses.field(default_factory=RewardWeights)
    grpo: GrpoConfig = dataclasses.field(default_factory=GrpoConfig)

    def inputs(self) -> dict[str, str]:
        """Files and folders this run reads, by key."""
        return {"model.checkpoint": self.model.checkpoint, "data.path": self.data.path}

    @property
    def output_dir(self) -> str:
        return self.grpo.output_dir
