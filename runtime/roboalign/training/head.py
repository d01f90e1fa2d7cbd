"""Stage 3: train the flow-matching action head on a frozen backbone's cached features.

    roboalign train head --config configs/head_tiny.yaml [--set train.steps=2000 ...]

The backbone is frozen, so its features are computed once and cached (training/head_features.py);
on CPU this turns minutes per epoch into seconds.

Steps: open the episodes -> features (cache) -> fit NormStats of the targets (action frame)
and of the state -> train the head (AdamW, warm-up + cosine, optional EMA) -> validation
flow-matching loss and sampled-chunk error (rad) -> save a VLA checkpoint folder
(roboalign.policy.vla) -> optional closed-loop success rate in the sim.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.core import NormStats
from roboalign.errors import UsageError
from roboalign.policy import actions as action_frames
from roboalign.training.head_config import HeadRunConfig
from roboalign.training.head_features import FeatureSet, cached_features, cached_images, open_frames, sim_target_labels


class HeadData:
    """Normalised training tensors for the head: targets in the action frame, states, and the
    head's own images when it has an image encoder."""

    def __init__(self, fs: FeatureSet, action_stats: NormStats, state_stats: NormStats, frame: str,
                 absolute_dims: tuple[int, ...], images: np.ndarray | None = None, aux: np.ndarray | None = None):
        self.fs, self.images = fs, images
        self.aux = None if aux is None else aux.astype(np.float32)
        if self.aux is not None and len(self.aux) != len(fs):
            raise ValueError(f"{len(self.aux)} auxiliary labels for {len(fs)} frames")
        targets = action_frames.to_frame(fs.chunks, fs.states, frame, absolute_dims)
        self.actions = action_stats.normalize(targets).astype(np.float32)
        self.states = state_stats.normalize(fs.states).astype(np.float32)

    def batch(self, idx: np.ndarray, device, shift: int = 0, rng: np.random.Generator | None = None):
        """(actions, features, mask, state, images or None) as tensors; `shift` > 0 randomly shifts
        the images by up to that many pixels (edge-padded), as DrQ does."""
        import torch

        feats, mask = self.fs.batch(idx)
        images = None
        if self.images is not None:
            imgs = self.images[idx]
            if shift > 0 and rng is not None:
                imgs = _random_shift(imgs, shift, rng)
            images = torch.from_numpy(imgs.astype(np.float32) / 255.0).to(device)
        return (torch.from_numpy(self.actions[idx]).to(device), torch.from_numpy(feats).to(device),
                torch.from_numpy(mask).to(device), torch.from_numpy(self.states[idx]).to(device), images)

    def aux_batch(self, idx: np.ndarray, device) -> dict:
        """Keyword arguments of FlowMatchingHead.loss_terms for the auxiliary labels of `idx`."""
        import torch

        if self.aux is None:
            return {}
        a = torch.from_numpy(self.aux[idx]).to(device)
        return {"aux_target": a[:, :2], "aux_points": a[:, 2:-1].reshape(len(idx), -1, 2), "aux_index": a[:, -1]}


def _random_shift(images: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """images uint8 [B, N, 3, S, S]: edge-pad by `pad`, crop back at a random offset per sample."""
    s = images.shape[-1]
    padded = np.pad(images, ((0, 0), (0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(rng.integers(0, 2 * pad + 1, size=(len(images), 2))):
        out[i] = padded[i, :, :, dy:dy + s, dx:dx + s]
    return out


def _lr(step: int, cfg) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def evaluate(head, data: HeadData, action_stats: NormStats, frame: str, absolute_dims, batch: int = 256,
             seed: int = 0) -> dict[str, float]:
    """Flow-matching loss and error of 4-step sampled chunks vs the targets (absolute, rad)."""
    import torch

    head.eval()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    n, losses, errs, first, aux_err, img_err, sel_ok = len(data.fs), [], [], [], [], [], []
    with torch.no_grad():
        for start in range(0, n, batch):
            idx = np.arange(start, min(start + batch, n))
            a, f, m, s, im = data.batch(idx, "cpu")
            aux = data.aux_batch(idx, "cpu")
            if not head.config.aux_image_points:
                aux.pop("aux_points", None)
                aux.pop("aux_index", None)
            terms = head.loss_terms(a, f, m, s, generator=gen, images=im, reduction="none", **aux)
            losses.append(float(terms["flow"].sum()))
            if "aux" in terms:
                aux_err.append(terms["aux"].numpy())
            if "aux_image" in terms:
                img_err.append(terms["aux_image"].numpy())
            if "aux_select" in terms:
                sel_ok.append((head._last_slot_logits.argmax(-1) == aux["aux_index"].long()).numpy())
            noise = torch.from_numpy(rng.standard_normal(a.shape).astype(np.float32))
            out = head.sample(f, m, s, noise, images=im).numpy().astype(np.float64)
            pred = action_frames.from_frame(action_stats.unnormalize(out), data.fs.states[idx], frame, absolute_dims)
            err = np.abs(pred - data.fs.chunks[idx])[..., :6]  # arm joints, rad
            errs.append(err.mean(axis=(1, 2)))
            first.append(err[:, :4].mean(axis=(1, 2)))
    out = {"loss": sum(losses) / n, "chunk_mae_rad": float(np.concatenate(errs).mean()),
           "first4_mae_rad": float(np.concatenate(first).mean())}
    if aux_err:
        out["aux_mse"] = float(np.concatenate(aux_err).mean())  # normalised units
    if img_err:
        out["aux_image_mse"] = float(np.concatenate(img_err).mean())
    if sel_ok:
        out["select_accuracy"] = float(np.concatenate(sel_ok).mean())
    return out


def run_head_training(cfg: HeadRunConfig, log=print) -> dict[str, Any]:
    """Train, save a VLA checkpoint in train.output_dir, return (and write) a summary."""
    t = cfg.train
    # the simulator labels first: data without them (real-robot recordings) is refused in one
    # line before torch and the backbone load and features are computed
    raw_aux = None
    if t.aux_target == "sim":
        try:
            raw_aux = (sim_target_labels(cfg.data.train, cfg),
                       sim_target_labels(cfg.data.val, cfg) if cfg.data.val else None)
        except ValueError as exc:
            raise UsageError(f"train.aux_target sim: {exc}") from None
    elif t.aux_target != "none":
        raise ValueError(f"train.aux_target {t.aux_target!r}: use none or sim")

    import torch

    from roboalign.policy.action_head import FlowMatchingHead
    from roboalign.policy.action_head_config import HeadConfig
    from roboalign.policy.backbone import Backbone
    from roboalign.policy.vla import VLAInfo, VLAPolicy, truncate_backbone

    if t.torch_threads:
        torch.set_num_threads(int(t.torch_threads))
    out = Path(t.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone = Backbone.from_pretrained(cfg.backbone, dtype="float32")
    for p in backbone.model.parameters():
        p.requires_grad_(False)
    info0 = backbone.info
    layer = backbone.resolve_layer(cfg.feature_layer or (info0.feature_layer if info0 and info0.feature_layer else
                                                         max(1, round(backbone.num_layers * 18 / 28))))
    log(f"backbone {cfg.backbone}: {backbone.num_layers} layers x {backbone.hidden_size}, features of block {layer}")
    t0 = time.perf_counter()
    train_fs = cached_features(backbone, cfg.backbone, cfg.data.train, cfg, layer, log)
    val_fs = cached_features(backbone, cfg.backbone, cfg.data.val, cfg, layer, log) if cfg.data.val else None
    feature_s = time.perf_counter() - t0
    d = cfg.data
    targets = action_frames.to_frame(train_fs.chunks, train_fs.states, d.action_frame, d.absolute_dims)
    action_stats, state_stats = NormStats.fit(targets), NormStats.fit(train_fs.states)
    size = cfg.head.image_size
    train_img = cached_images(cfg.data.train, cfg, size, log) if size else None
    val_img = cached_images(cfg.data.val, cfg, size, log) if size and val_fs else None
    aux_train = aux_val = None
    if raw_aux is not None:
        aux_stats = NormStats.fit(raw_aux[0][:, :-1])  # positions normalised; the index column stays as is
        norm = lambda r: np.concatenate([aux_stats.normalize(r[:, :-1]), r[:, -1:]], axis=1)  # noqa: E731
        aux_train = norm(raw_aux[0])
        aux_val = norm(raw_aux[1]) if val_fs and raw_aux[1] is not None else None
    train = HeadData(train_fs, action_stats, state_stats, d.action_frame, d.absolute_dims, train_img, aux_train)
    val = (HeadData(val_fs, action_stats, state_stats, d.action_frame, d.absolute_dims, val_img, aux_val)
           if val_fs else None)

    hc = HeadConfig(action_dim=targets.shape[2], horizon=d.horizon, state_dim=train_fs.states.shape[1],
                    feature_dim=train_fs.hidden.shape[1], num_cameras=train_img.shape[1] if size else 1,
                    aux_dim=0 if aux_train is None else 2,
                    aux_image_points=(aux_train.shape[1] - 3) // 2 if aux_train is not None and size else 0,
                    **dataclasses.asdict(cfg.head))
    torch.manual_seed(t.seed)
    head = FlowMatchingHead(hc).to(t.device)
    ema = copy.deepcopy(head).eval() if t.ema > 0 else None
    decay, no_decay = [], []
    for name, p in head.named_parameters():
        (no_decay if p.ndim < 2 or name == "position" else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=t.learning_rate)
    log(f"head: {head.num_parameters() / 1e6:.2f} M parameters; {len(train_fs)} training frames"
        f"{f', {len(val_fs)} validation' if val_fs else ''}; {t.steps} steps of {t.batch_size}")
    rng = np.random.default_rng(t.seed)
    gen = torch.Generator().manual_seed(t.seed)
    metrics_path = out / "metrics.jsonl"
    metrics_path.unlink(missing_ok=True)
    order, pos, running, running_aux = rng.permutation(len(train_fs)), 0, [], []
    t_train = time.perf_counter()
    history = []
    for step in range(t.steps):
        if pos + t.batch_size > len(order):
            order, pos = rng.permutation(len(train_fs)), 0
        idx = order[pos:pos + t.batch_size]
        pos += t.batch_size
        a, f, m, s, im = train.batch(idx, t.device, t.image_shift, rng)
        if t.noise_samples > 1:
            k = t.noise_samples
            a, f, m, s = a.repeat(k, 1, 1), f.repeat(k, 1, 1), m.repeat(k, 1), s.repeat(k, 1)
            im = None if im is None else im.repeat(k, 1, 1, 1, 1)
        for g in opt.param_groups:
            g["lr"] = _lr(step, t)
        head.train()
        aux = train.aux_batch(idx, t.device) if t.noise_samples == 1 else {}
        if not hc.aux_image_points:
            aux.pop("aux_points", None)
            aux.pop("aux_index", None)
        terms = head.loss_terms(a, f, m, s, generator=gen, images=im, **aux)
        loss = terms["flow"] + t.aux_weight * sum(v for k, v in terms.items() if k != "flow")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), t.grad_clip)
        opt.step()
        if ema is not None:
            # Warmed-up decay (as timm/diffusers do): early on the average must not sit on the init.
            decay = min(t.ema, (1.0 + step) / (10.0 + step))
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), head.parameters()):
                    pe.lerp_(p, 1.0 - decay)
        running.append(float(terms["flow"].detach()))
        if len(terms) > 1:
            running_aux.append([float(terms[k].detach()) for k in ("aux", "aux_image", "aux_select") if k in terms])
        rec: dict[str, Any] | None = None
        if (step + 1) % t.log_every == 0:
            rec = {"step": step + 1, "loss": float(np.mean(running)), "lr": _lr(step, t),
                   "seconds": round(time.perf_counter() - t_train, 1)}
            if running_aux:
                for k, v in zip(("aux_loss", "aux_image_loss", "aux_select_loss"), np.mean(running_aux, axis=0)):
                    rec[k] = float(v)
            running, running_aux = [], []
        if val is not None and ((step + 1) % t.eval_every == 0 or step + 1 == t.steps):
            rec = rec or {"step": step + 1}
            rec.update({f"val_{k}": v for k, v in evaluate(ema or head, val, action_stats, d.action_frame,
                                                            d.absolute_dims).items()})
        if rec:
            history.append(rec)
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items()))
    train_s = time.perf_counter() - t_train
    final = (ema or head).eval()

    if cfg.save.truncate_backbone:
        truncate_backbone(backbone, layer)
    first = open_frames(cfg.data.train[:1], cfg).episodes[0]
    ep_meta = _episode_metadata(cfg.data.train[0])
    h, w = first.images[next(iter(first.images))].shape[1:3]
    cams = d.cameras or tuple(first.images)
    info = VLAInfo(cameras=cams, horizon=d.horizon, action_dim=hc.action_dim, dt=float(first.dt), feature_layer=layer,
                   action_frame=d.action_frame, absolute_dims=d.absolute_dims, image_size=(h, w),
                   robot=ep_meta.get("robot"), model_id=cfg.save.model_id or out.name,
                   trained_from=str(cfg.backbone),
                   extra={"head_parameters": final.num_parameters(), "train_frames": len(train_fs),
                          "train_steps": t.steps})
    policy = VLAPolicy(backbone, final, info, action_stats, state_stats)
    policy.save_pretrained(out, {"torch_threads": t.torch_threads} if t.torch_threads else None)
    summary: dict[str, Any] = {"feature_seconds": round(feature_s, 1), "train_seconds": round(train_s, 1),
                               "head_parameters": final.num_parameters(), "train_frames": len(train_fs),
                               "val_frames": len(val_fs) if val_fs else 0, "last": history[-1] if history else {}}
    if cfg.eval.sim_episodes > 0:
        summary["sim"] = sim_success(policy, cfg.eval, log)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    log(f"saved {out}")
    return summary


def _episode_metadata(path: str) -> dict[str, Any]:
    from roboalign.data.sources import find_episode_dirs

    dirs = find_episode_dirs(path)
    if not dirs:
        return {}
    return json.loads((dirs[0] / "episode.json").read_text()).get("metadata", {})


def sim_success(policy, ev, log=print) -> dict[str, Any]:
    """Success rate of `policy` over ev.sim_episodes seeded episodes through the direct control
    loop (roboalign.control.loop: chunk executor + safety filter, as deployed), with its safety counts."""
    from roboalign.control.loop import LoopConfig
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode, summarize

    config = dataclasses.replace(LoopConfig(), replan_period=ev.replan_period)
    with SimArm(render_size=tuple(policy.info.image_size), cameras=policy.info.cameras, task_family=ev.family) as arm:
        results = [run_sim_episode(arm, policy, ev.seed + i, max_seconds=ev.max_seconds, config=config)
                   for i in range(ev.sim_episodes)]
    s = summarize(results, policy.info.model_id, 0.0)
    out = {"episodes": s["episodes"], "successes": s["successes"], "success_rate": s["success_rate"], "seed": ev.seed,
           "family": ev.family, "mean_infer_ms": round(s["mean_infer_ms"], 2),
           "safety_interventions": s["safety_interventions"],
           "max_safety_correction_rad": s["max_safety_correction_rad"]}
    log(f"sim: {s['successes']}/{s['episodes']} succeeded (seeds {ev.seed}..{ev.seed + len(results) - 1}, {ev.family}; "
        f"direct loop, safety {s['safety_interventions']})")
    return out
