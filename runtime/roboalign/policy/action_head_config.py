"""The action head's configuration records, torch-free: HeadSizes (what a training config
chooses, the `head:` section of configs/head_*.yaml) and HeadConfig (plus what the data
decides). Kept apart from action_head.py so loading and checking a config never imports torch
(a typo in a head config answers in well under a second). Meaning of each field:
roboalign.policy.action_head's module docstring.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from roboalign.policy.integrity import record_fields

CONFIG_FILE = "config.json"
FORMAT = "roboalign-flow-head"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class HeadSizes:
    """What a training config chooses about the head (the `head:` section of configs/head_*.yaml);
    HeadConfig adds what the data decides.

    d_model / num_layers / num_heads / mlp_ratio: DiT sizes. memory_positions: size of the
    learned token-index table for the memory (0: none; indices past the end share the last entry).
    num_steps: Euler steps at inference. beta_alpha, beta_beta, time_scale_s: training-time
    schedule t = s * (1 - u), u ~ Beta(alpha, beta).
    image_size, image_channels: the optional own image encoder (module docstring): square input
    side in px (0 = no encoder; a multiple of 8), conv widths (the second is the keypoint count).
    object_slots: object tokens the image path summarises the scene into (image encoder only).
    """

    d_model: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    memory_positions: int = 512
    num_steps: int = 4
    beta_alpha: float = 1.5
    beta_beta: float = 1.0
    time_scale_s: float = 0.999
    image_size: int = 0
    image_channels: tuple[int, int] = (24, 48)
    object_slots: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_channels", tuple(int(c) for c in self.image_channels))
        if self.image_size % 8 or self.image_size < 0:
            raise ValueError(f"image_size must be 0 or a positive multiple of 8, got {self.image_size}")
        for name in ("d_model", "num_layers", "num_heads", "num_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} must divide by num_heads {self.num_heads}")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (sinusoidal time embedding), got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0 or self.mlp_ratio <= 0 or self.memory_positions < 0:
            raise ValueError("dropout must be in [0, 1), mlp_ratio > 0 and memory_positions >= 0")
        if min(self.beta_alpha, self.beta_beta) <= 0 or not 0.0 < self.time_scale_s <= 1.0:
            raise ValueError("beta_alpha and beta_beta must be > 0, time_scale_s in (0, 1]")
        if min(self.image_channels) < 1 or self.object_slots < 1:
            raise ValueError("image_channels and object_slots must be >= 1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeadConfig(HeadSizes):
    """The head's full configuration: its sizes (HeadSizes) and the shapes the data decides.

    action_dim, horizon: chunk shape [H, Da]; state_dim: proprio size Ds; feature_dim: the
    backbone's hidden size C. num_cameras: images per observation for the own image encoder.
    aux_dim: size of an auxiliary training target (0 = none), e.g. the target object's position
    in simulation, read from the pointer token (with the image encoder) or the final state
    token; unused at inference and not exported.
    aux_image_points: 2-D points regressed from the first object slots, one per slot (e.g. every
    object's table position in simulation; needs the image encoder; training only).
    """

    action_dim: int
    horizon: int
    state_dim: int
    feature_dim: int
    num_cameras: int = 1
    aux_dim: int = 0
    aux_image_points: int = 0

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as exc:
            raise ValueError(f"HeadConfig: {exc}") from None
        if self.aux_image_points and not self.image_size:
            raise ValueError("HeadConfig.aux_image_points needs the head's image encoder (image_size > 0)")
        if self.aux_image_points > self.object_slots:
            raise ValueError(f"HeadConfig: {self.aux_image_points} auxiliary points need as many object slots "
                             f"(object_slots = {self.object_slots})")
        for name in ("action_dim", "horizon", "state_dim", "feature_dim", "num_cameras"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"HeadConfig.{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_channels"] = list(self.image_channels)
        return {"format": FORMAT, "version": VERSION, **d}

    @property
    def uses_images(self) -> bool:
        return self.image_size > 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadConfig:
        return cls(**record_fields(cls, data, FORMAT, VERSION, "HeadConfig", strict=True))
