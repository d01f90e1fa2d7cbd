"""Stage-3 (action head) configuration, YAML -> typed dataclasses. Example: configs/head_tiny.yaml

    backbone: outputs/stage1_tiny      # frozen stage-1/2 checkpoint folder (or hub id in the HF cache)
    feature_layer: null                # decoder block the head reads; null: the checkpoint's own
    data:  {train: [...], val: [...], horizon: 16, cameras: [front], action_frame: delta, ...}
    head:  {d_model: 128, num_layers: 4, num_heads: 4, mlp_ratio: 4.0, num_steps: 4}
    train: {output_dir: ..., steps: 4000, batch_size: 128, learning_rate: 3e-4, ...}
    eval:  {sim_episodes: 20, seed: 10000, family: touch}     # closed loop in the sim at the end
    save:  {truncate_backbone: true, model_id: ...}
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from roboalign.training.config import _build, _set_dotted


@dataclasses.dataclass(frozen=True)
class HeadDataConfig:
    """Robot episodes (project or LeRobot layout, training/episodes.py) the head learns from.

    action_frame: delta (targets minus the current joints, except absolute_dims) or absolute.
    stride: keep every k-th frame. cache_dir: where backbone features are cached (one file
    per backbone, layer and data set; reused across runs). feature_batch: frames per backbone
    forward while caching.
    """

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    horizon: int = 16
    cameras: tuple[str, ...] | None = None
    action_frame: str = "delta"
    absolute_dims: tuple[int, ...] = ()
    stride: int = 1
    only_successful: bool = True
    cache_dir: str = "outputs/stage3/feature_cache"
    feature_batch: int = 32


@dataclasses.dataclass(frozen=True)
class HeadModelConfig:
    """FlowMatchingHead sizes (roboalign.policy.action_head.HeadConfig; dims and camera count
    are filled from the data)."""

    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    memory_positions: int = 512
    num_steps: int = 4
    image_size: int = 0  # > 0: the head's own conv image encoder (a documented deviation, docs/stage3.md)
    image_channels: tuple[int, int] = (24, 48)
    beta_alpha: float = 1.5
    beta_beta: float = 1.0
    time_scale_s: float = 0.999


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
    aux_target: str = "none"  # "sim": also regress block positions (sim demos only; docs/stage3.md)
    aux_weight: float = 1.0
    eval_every: int = 500
    log_every: int = 50
    seed: int = 0
    torch_threads: int | None = None
    device: str = "cpu"


@dataclasses.dataclass(frozen=True)
class HeadEvalConfig:
    """Closed-loop check at the end of training (direct sim loop, no ROS): 0 episodes skips it."""

    sim_episodes: int = 0
    seed: int = 10_000
    family: str = "touch"
    replan_period: float = 0.4
    max_seconds: float = 12.0


@dataclasses.dataclass(frozen=True)
class HeadSaveConfig:
    truncate_backbone: bool = True  # keep the backbone blocks up to feature_layer only
    model_id: str = ""


@dataclasses.dataclass(frozen=True)
class HeadRunConfig:
    backbone: str
    data: HeadDataConfig
    head: HeadModelConfig = dataclasses.field(default_factory=HeadModelConfig)
    train: HeadTrainConfig = dataclasses.field(default_factory=HeadTrainConfig)
    eval: HeadEvalConfig = dataclasses.field(default_factory=HeadEvalConfig)
    save: HeadSaveConfig = dataclasses.field(default_factory=HeadSaveConfig)
    feature_layer: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HeadRunConfig":
        d = dict(d)
        known = {"backbone", "feature_layer", "data", "head", "train", "eval", "save"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config: unknown sections {sorted(unknown)}; expected {sorted(known)}")
        if not d.get("backbone"):
            raise ValueError("config: `backbone:` (a stage-1/2 checkpoint folder) is required")
        data = dict(d.get("data") or {})
        for key in ("train", "val", "cameras", "absolute_dims"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        data_cfg = _build(HeadDataConfig, data, "data")
        head = dict(d.get("head") or {})
        if "image_channels" in head:
            head["image_channels"] = tuple(head["image_channels"])
        if not data_cfg.train:
            raise ValueError("config: data.train must list at least one episode folder")
        return cls(
            backbone=str(d["backbone"]),
            feature_layer=d.get("feature_layer"),
            data=data_cfg,
            head=_build(HeadModelConfig, head, "head"),
            train=_build(HeadTrainConfig, d.get("train"), "train"),
            eval=_build(HeadEvalConfig, d.get("eval"), "eval"),
            save=_build(HeadSaveConfig, d.get("save"), "save"),
        )

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "HeadRunConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"head config {path} not found (see configs/head_tiny.yaml for an example)")
        d = yaml.safe_load(path.read_text()) or {}
        for dotted, value in (overrides or {}).items():
            _set_dotted(d, dotted, value)
        return cls.from_dict(d)
