"""The action head's own image encoder: a documented DEVIATION from RoboAlign/GR00T (off by default).

RoboAlign and GR00T condition the flow-matching head on the frozen MLLM's features only. The
tiny CPU backbones of this project localise objects too coarsely for the sim's touch task
(docs/stage3.md: ~5 cm from block-3 features, ~3 cm needed), so a head configured with
`HeadConfig.image_size > 0` also reads each camera image through this small conv encoder.
Leave it off with a real backbone.

    tokens = ImageEncoder(size=64, channels=(24, 48), d=64, num_cameras=1)(images, film)
    images = prepare_images([obs.images["front"]], 64)      # the one resize, training and serving
"""
from __future__ import annotations

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """Images [B, N, 3, S, S] in [0, 1] -> tokens [B, N * (K + (S/8)^2), d] (the deviation described in
    the module docstring).

    Convs (input with two coordinate channels, CoordConv-style) give a K-channel map at S/4; a
    spatial softmax turns each channel into an expected image position (x, y) in [-1, 1], a
    "keypoint" (as in Levine et al.'s visuomotor policies and Diffusion Policy): K keypoint tokens
    (position -> Linear, + a per-channel embedding) carry *where* things are in a form attention
    reads directly. The map, pooled to S/8, also gives one token per cell (what is where).
    """

    def __init__(self, size: int, channels: tuple[int, int], d: int, num_cameras: int):
        super().__init__()
        c0, c1 = channels
        self.convs = nn.Sequential(nn.Conv2d(5, c0, 5, stride=2, padding=2), nn.GELU(approximate="tanh"),
                                   nn.Conv2d(c0, c1, 3, stride=2, padding=1), nn.GELU(approximate="tanh"),
                                   nn.Conv2d(c1, c1, 3, stride=1, padding=1))
        side = size // 4
        lin = torch.linspace(-1.0, 1.0, size)
        self.register_buffer("coords", torch.stack(torch.meshgrid(lin, lin, indexing="ij"))[None], persistent=False)
        grid = torch.linspace(-1.0, 1.0, side)
        gy, gx = torch.meshgrid(grid, grid, indexing="ij")
        self.register_buffer("grid_xy", torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1), persistent=False)
        self.log_temperature = nn.Parameter(torch.zeros(1))
        self.keypoint_proj = nn.Linear(2, d)
        self.keypoint_embed = nn.Parameter(torch.randn(1, num_cameras * c1, d) * 0.02)
        self.cell_proj = nn.Linear(c1, d)
        self.cell_embed = nn.Parameter(torch.randn(1, num_cameras * (size // 8) ** 2, d) * 0.02)
        self.pool = nn.AvgPool2d(2)
        self.norm = nn.LayerNorm(d)

    def forward(self, images: torch.Tensor, film: torch.Tensor | None = None) -> torch.Tensor:
        """film: [B, 2 * K] (scale, shift) from the instruction, applied before the last conv, so the
        keypoints can follow what the instruction names (FiLM, as RT-1 conditions its image encoder)."""
        b, n = images.shape[0], images.shape[1]
        x = images.flatten(0, 1).float() * 2.0 - 1.0
        x = torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], dim=1)
        x = self.convs[:4](x)
        if film is not None:
            scale, shift = film.repeat_interleave(n, dim=0).chunk(2, dim=-1)
            x = x * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]
        fmap = self.convs[4](x)  # [B*N, K, S/4, S/4]
        attn = torch.softmax(fmap.flatten(2) * torch.exp(self.log_temperature), dim=-1)  # [B*N, K, cells]
        keypoints = torch.matmul(attn, self.grid_xy)  # [B*N, K, 2], expected (x, y) per channel
        kp = self.keypoint_proj(keypoints).reshape(b, -1, self.keypoint_embed.shape[-1]) + self.keypoint_embed
        cells = self.cell_proj(self.pool(fmap).flatten(2).transpose(1, 2))  # [B*N, (S/8)^2, d]
        cells = cells.reshape(b, -1, cells.shape[-1]) + self.cell_embed
        return self.norm(torch.cat([kp, cells], dim=1))


def prepare_images(images, size: int):
    """Camera images (uint8 [H, W, 3] each) -> float32 [N, 3, size, size] in [0, 1] (area resize).
    The one resize used by training and inference alike."""
    import numpy as np
    from PIL import Image

    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.shape[0] != size or arr.shape[1] != size:
            arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BOX))
        out.append(arr.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32) / 255.0
