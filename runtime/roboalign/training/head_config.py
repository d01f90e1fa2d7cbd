"""Stage-3 (action head) configuration, plain dataclasses read by roboalign.config. Example:
configs/head_tiny.yaml

    backbone: outputs/stage1_tiny      # frozen stage-1/2 checkpoint folder (or hub id in the HF cache)
    feature_layer: null                # decoder block the head reads; null: the checkpoint's own
    data:  {train: [...], val: [...], horizon: 16, cameras: [front], action_frame: delta, ...}
    head:  {d_model: 128, num_layers: 4, num_heads: 4, mlp_ratio: 4.0, num_steps: 4}
    train: {output_dir: ..., steps: 4000, batch_size: 128, learning_rate: 3e-4, ...}
    eval:  {sim_episodes: 20, seed: 10000, family: touch}     # closed loop in the sim at the end
    save:  {truncate_backbone: true, model_id: ...}

    cfg = config.load(HeadRunConfig, "configs/head_tiny.yaml", ["train.steps=500"])

`head:` is roboalign.policy.action_head_config.HeadSizes itself (its defaults and checks live there
once); the shapes the data decides (action, state and feature sizes, cameras) are filled in at
training time. Every check here runs at load time, before the backbone or any feature is loaded.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from roboalign.policy import actions as action_frames
from roboalign.policy.action_head_config import HeadSizes
from roboalign.sim.tasks import FAMILIES


@dataclasses.dataclass(frozen=True)
class HeadDataConfig:
    """Robot episodes (project or LeRobot layout, training/episodes.py) the head learns from.

    action_frame: delta (targets minus the current joints, except absolute_dims) or absolute.
    stride: keep every k-th frame. cache_dir: where backbone features are cached (one file
    per backbone, layer and data set; reused across runs). feature_batch: frames per backbone
    forward while caching.
    """

    train: tuple[str, ...]
    val: tuple[str, ...] = ()
    horizon: int = 16
    cameras: tuple[str, ...] | None = None
    action_frame: str = "delta"
    absolute_dims: tuple[int, ...] = ()
    stride: int = 1
    only_successful: bool = True
    cache_dir: str = "outputs/stage3/feature_cache"
    feature_batch: int = 32

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError("train must list at least one episode folder")
        if self.action_frame not in action_frames.FRAMES:
            raise ValueError(f"action_frame {self.action_frame!r}: use one of {', '.join(action_frames.FRAMES)}")
        if min(self.horizon, self.stride, self.feature_batch) < 1:
            raise ValueError("horizon, stride and feature_batch must be >= 1")
        if any(d < 0 for d in self.absolute_dims):
            raise ValueError(f"absolute_dims are joint indices (>= 0), got {list(self.absolute_dims)}")


@dataclasses.dataclass(frozen=True)
class HeadTrainConfig:
    """AdamW with linear warm-up and cosine decay; `ema` > 0 keeps an exponential moving average
    of the weights (saved instead of the raw ones). `noise_samples`: flow-matching draws per
    example and step. image_shift: random-shift augmentation of the head's own images (pixels at
    the encoder's size; DrQ-style pad + random crop). aux_target "sim": auxiliary losses (weight
    aux_weight) on the target block's table position read from the final state token, and, with
    the head's image encoder, on every block's position read from the image tokens alone; labels
    come from the sim episodes' seeds (training only; see docs/stage3.md)."""

    output_dir: str = "outputs/stage3_head"
    steps: int = 4000
    batch_size: int = 128
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    ema: float = 0.0
    noise_samples: int = 1
    image_shift: int = 4
    aux_target: Literal["none", "sim"] = "none"  # "sim": also regress block positions (sim demos only)
    aux_weight: float = 1.0
    eval_every: int = 500
    log_every: int = 50
    seed: int = 0
    torch_threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "noise_samples", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.grad_clip <= 0:
            raise ValueError("learning_rate and grad_clip must be > 0")
        if min(self.weight_decay, self.warmup_steps, self.image_shift, self.aux_weight) < 0:
            raise ValueError("weight_decay, warmup_steps, image_shift and aux_weight must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0 or not 0.0 <= self.ema < 1.0:
            raise ValueError("min_lr_ratio must be in [0, 1] and ema in [0, 1)")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1 or null, got {self.torch_threads}")


@dataclasses.dataclass(frozen=True)
class HeadEvalConfig:
    """Closed-loop check at the end of training (direct sim loop, no ROS): 0 episodes skips it.
    replan_period and max_seconds in seconds of sim time."""

    sim_episodes: int = 0
    seed: int = 10_000
    family: str = "touch"
    replan_period: float = 0.4
    max_seconds: float = 12.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:  # checked now, not after training
            raise ValueError(f"family {self.family!r}: use one of {', '.join(FAMILIES)}")
        if self.sim_episodes < 0 or self.seed < 0:
            raise ValueError("sim_episodes and seed must be >= 0")
        if self.replan_period <= 0 or self.max_seconds <= 0:
            raise ValueError("replan_period and max_seconds must be > 0")


@dataclasses.dataclass(frozen=True)
class HeadSaveConfig:
    truncate_backbone: bool = True  # keep the backbone blocks up to feature_layer only
    model_id: str = ""


@dataclasses.dataclass(frozen=True)
class HeadRunConfig:
    backbone: str
    data: HeadDataConfig
    head: HeadSizes = dataclasses.field(default_factory=HeadSizes)
    train: HeadTrainConfig = dataclasses.field(default_factory=HeadTrainConfig)
    eval: HeadEvalConfig = dataclasses.field(default_factory=HeadEvalConfig)
    save: HeadSaveConfig = dataclasses.field(default_factory=HeadSaveConfig)
    feature_layer: int | None = None

    def __post_init__(self) -> None:
        if not self.backbone:
            raise ValueError("backbone must name a stage-1/2 checkpoint folder")
        if self.feature_layer is not None and self.feature_layer < 1:
            raise ValueError(f"feature_layer must be >= 1 (a decoder block) or null, got {self.feature_layer}")

    def inputs(self) -> dict[str, str]:
        """Files and folders this run reads, by key (backbone may be a hub id: not listed)."""
        return {**{f"data.train.{i}": p for i, p in enumerate(self.data.train)},
                **{f"data.val.{i}": p for i, p in enumerate(self.data.val)}}

    @property
    def output_dir(self) -> str:
        return self.train.output_dir
