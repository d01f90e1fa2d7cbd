"""Localisation probe: how well a frozen backbone's features say where the named block is.

docs/stage3.md's diagnosis of the paper-design head: the tiny backbone's features located the
named block to 5.0 cm (median, held-out frames) where touching needs ~3 cm. This module is that
probe, reusable on any backbone:

    roboalign eval locate --config configs/head_paper_tiny.yaml [--set backbone=DIR] [--json OUT]

It reads the same cached features stage 3 trains on (training/head_features.py; one cache per
backbone, layer and data set), labels each frame with the simulator's ground truth (the target
block's xy in the arm base frame and which of the blocks is the target; regenerated from the
episode seed, never shown to the backbone), and trains a small **attention probe** on the
training frames: LayerNorm + Linear of the features, plus a learned embedding of the token's
index in the prompt (Qwen2.5-VL's hidden states carry image position only through rotary
attention), one learned query attending over the tokens (4 heads), an MLP to (x, y) and a
3-way colour head. Reported on the validation episodes: median and mean xy error (cm), the
blind guess (training mean position) and the colour accuracy. A probe can only read what the
features hold: a better figure means the backbone's features locate better.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np


@dataclasses.dataclass(frozen=True)
class LocateResult:
    median_cm: float
    mean_cm: float
    within_3cm: float  # share of held-out frames located within the touch radius
    blind_median_cm: float  # predicting the training set's mean target position
    colour_accuracy: float
    n_train: int
    n_val: int
    steps: int
    seconds: float
    layer: int
    backbone: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def attention_probe(feature_dim: int, max_tokens: int, d: int = 64, heads: int = 4, classes: int = 3):
    import torch
    from torch import nn

    class AttentionProbe(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, d))
            self.index = nn.Embedding(max_tokens, d)
            self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.xy = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 2))
            self.colour = nn.Linear(d, classes)

        def forward(self, feats, mask):
            pos = torch.arange(feats.shape[1], device=feats.device).clamp(max=max_tokens - 1)
            x = self.inp(feats) + self.index(pos)[None]
            q = self.query.expand(len(feats), -1, -1)
            h, _ = self.attn(q, x, x, key_padding_mask=mask < 0.5)
            return self.xy(h[:, 0]), self.colour(h[:, 0])

    return AttentionProbe()


def fit_locate_probe(train_fs, train_labels: np.ndarray, val_fs, val_labels: np.ndarray, steps: int = 1500,
                     batch: int = 64, lr: float = 2e-3, seed: int = 0, log=print) -> dict:
    """Train the probe on (features, labels) and score it on the validation set.

    labels: sim_target_labels rows [target xy, every block's xy, target index]."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    max_tokens = int(max(np.diff(train_fs.offsets).max(), np.diff(val_fs.offsets).max()))
    probe = attention_probe(train_fs.hidden.shape[1], max_tokens)
    mean = train_labels[:, :2].mean(0)
    std = train_labels[:, :2].std(0) + 1e-6
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    n = len(train_fs)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = rng.integers(0, n, size=batch)
        f, m = train_fs.batch(idx)
        xy, logits = probe(torch.from_numpy(f), torch.from_numpy(m))
        target = torch.from_numpy(((train_labels[idx, :2] - mean) / std).astype(np.float32))
        loss = F.mse_loss(xy, target) + F.cross_entropy(logits, torch.from_numpy(train_labels[idx, -1].astype(np.int64)))
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"locate probe: step {step} loss {float(loss.detach()):.4f} ({time.perf_counter() - t0:.0f} s)")
    probe.eval()
    preds, colours = [], []
    with torch.no_grad():
        for start in range(0, len(val_fs), 256):
            idx = np.arange(start, min(start + 256, len(val_fs)))
            f, m = val_fs.batch(idx)
            xy, logits = probe(torch.from_numpy(f), torch.from_numpy(m))
            preds.append(xy.numpy() * std + mean)
            colours.append(logits.argmax(-1).numpy())
    pred = np.concatenate(preds)
    err = np.linalg.norm(pred - val_labels[:, :2], axis=1) * 100.0
    blind = np.linalg.norm(mean[None] - val_labels[:, :2], axis=1) * 100.0
    return {"median_cm": float(np.median(err)), "mean_cm": float(err.mean()), "within_3cm": float((err < 3.0).mean()),
            "blind_median_cm": float(np.median(blind)),
            "colour_accuracy": float((np.concatenate(colours) == val_labels[:, -1]).mean()),
            "n_train": int(n), "n_val": int(len(val_fs)), "steps": int(steps),
            "seconds": round(time.perf_counter() - t0, 1)}


def run_locate(cfg, steps: int = 1500, threads: int = 1, log=print) -> LocateResult:
    """Features of cfg.backbone (cached as for stage 3) on cfg.data.train / val, then the probe."""
    import torch

    from roboalign.policy.backbone import Backbone
    from roboalign.training.head_features import cached_features, sim_target_labels

    torch.set_num_threads(int(threads))
    if not cfg.data.val:
        raise ValueError("the localisation probe scores held-out episodes: data.val must list at least one folder")
    backbone = Backbone.from_pretrained(cfg.backbone, dtype="float32")
    info = backbone.info
    layer = backbone.resolve_layer(cfg.feature_layer or (info.feature_layer if info and info.feature_layer
                                                         else max(1, round(backbone.num_layers * 18 / 28))))
    train_fs = cached_features(backbone, cfg.backbone, cfg.data.train, cfg, layer, log)
    val_fs = cached_features(backbone, cfg.backbone, cfg.data.val, cfg, layer, log)
    out = fit_locate_probe(train_fs, sim_target_labels(cfg.data.train, cfg), val_fs,
                           sim_target_labels(cfg.data.val, cfg), steps=steps, log=log)
    return LocateResult(**out, layer=layer, backbone=str(cfg.backbone))
