"""Stage 3: train the flow-matching action head on a frozen backbone's cached features.

    roboalign train head --config configs/head_tiny.yaml [--set train.steps=2000 ...]

Why cache: the backbone is frozen, so its hidden states for a training frame never change.
They are computed once (one batched forward pass per `feature_batch` frames, stopped after
`feature_layer`) and stored as float16 in data.cache_dir, keyed by the backbone weights, the
layer and the data; every later run with the same inputs starts training at once. On CPU this
turns minutes per epoch into seconds.

Steps: open the episodes -> features (cache) -> fit NormStats of the targets (action frame)
and of the state -> train the head (AdamW, warm-up + cosine, optional EMA) -> validation
flow-matching loss and sampled-chunk error (rad) -> save a VLA checkpoint folder
(roboalign.policy.vla) -> optional closed-loop success rate in the sim.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.core import NormStats
from roboalign.policy import actions as action_frames
from roboalign.training.head_config import HeadRunConfig


@dataclasses.dataclass
class FeatureSet:
    """Cached inputs of N frames: hidden states packed as [sum T_i, C] float16 with offsets [N+1],
    states [N, D] and absolute chunks [N, H, D] (float64)."""

    hidden: np.ndarray
    offsets: np.ndarray
    states: np.ndarray
    chunks: np.ndarray

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features [B, Tmax, C] float32, mask [B, Tmax]) for frames `idx` (right padded)."""
        lens = self.offsets[idx + 1] - self.offsets[idx]
        tmax = int(lens.max())
        feats = np.zeros((len(idx), tmax, self.hidden.shape[1]), np.float32)
        mask = np.zeros((len(idx), tmax), np.float32)
        for j, (i, n) in enumerate(zip(idx, lens)):
            feats[j, :n] = self.hidden[self.offsets[i]:self.offsets[i] + n]
            mask[j, :n] = 1.0
        return feats, mask

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, hidden=self.hidden, offsets=self.offsets, states=self.states, chunks=self.chunks)
        tmp.rename(path)

    @classmethod
    def load(cls, path: Path) -> "FeatureSet":
        with np.load(path) as z:
            return cls(z["hidden"], z["offsets"], z["states"], z["chunks"])


def _backbone_key(path: str) -> str:
    """Identity of a backbone checkpoint: its weight files' names, sizes and first/last MiB."""
    folder = Path(path)
    h = hashlib.sha256(str(path).encode())
    for f in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        h.update(f"{f.name}:{f.stat().st_size}".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))
            fh.seek(max(0, f.stat().st_size - (1 << 20)))
            h.update(fh.read())
    return h.hexdigest()[:16]


def open_frames(paths: tuple[str, ...], cfg: HeadRunConfig):
    from roboalign.training.episodes import RobotFrames, load_lerobot_episodes, load_project_episodes, is_lerobot_dir

    d = cfg.data
    episodes = []
    for p in paths:
        episodes += load_lerobot_episodes(p) if is_lerobot_dir(p) else load_project_episodes(p, d.only_successful)
    return RobotFrames(episodes, d.horizon, d.cameras, d.stride)


def compute_features(backbone, frames, layer: int, batch: int = 32, log=print) -> FeatureSet:
    """Backbone hidden states of `layer` for every frame (its generation prompt), packed."""
    import torch

    from roboalign.core import Observation

    hidden, lens, states, chunks = [], [], [], []
    t0 = time.perf_counter()
    for start in range(0, len(frames), batch):
        samples = [frames[i] for i in range(start, min(start + batch, len(frames)))]
        obs = [Observation(images=dict(zip(s.cameras, s.images)), joint_positions=s.state, instruction=s.instruction)
               for s in samples]
        with torch.no_grad():
            f = backbone.features(obs, layer)
        h = f.hidden.float().cpu().numpy()
        m = f.attention_mask.cpu().numpy().astype(bool)
        for j, s in enumerate(samples):
            hidden.append(h[j][m[j]].astype(np.float16))
            lens.append(int(m[j].sum()))
            states.append(s.state)
            chunks.append(s.chunk)
        if start == 0 or (start // batch) % 20 == 0:
            log(f"features: {start + len(samples)}/{len(frames)} frames ({time.perf_counter() - t0:.0f} s)")
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return FeatureSet(np.concatenate(hidden), offsets, np.stack(states), np.stack(chunks))


def cached_features(backbone, backbone_path: str, paths: tuple[str, ...], cfg: HeadRunConfig, layer: int,
                    log=print) -> FeatureSet:
    d = cfg.data
    key = json.dumps({"backbone": _backbone_key(backbone_path), "layer": layer, "paths": [str(Path(p).resolve()) for p in paths],
                      "horizon": d.horizon, "cameras": d.cameras, "stride": d.stride, "ok": d.only_successful,
                      "fmt": backbone.prompt_format.to_dict()}, sort_keys=True)
    path = Path(d.cache_dir) / f"features_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        log(f"features: cached {path}")
        return FeatureSet.load(path)
    frames = open_frames(paths, cfg)
    log(f"features: {len(frames)} frames from {len(frames.episodes)} episodes, layer {layer}")
    fs = compute_features(backbone, frames, layer, d.feature_batch, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    fs.save(path)
    return fs


def cached_images(paths: tuple[str, ...], cfg: HeadRunConfig, size: int, log=print) -> np.ndarray:
    """Camera images of every frame resized for the head's own encoder: uint8 [N, cams, 3, S, S]
    (same frame order as the features; the resize is action_head.prepare_images)."""
    from roboalign.policy.action_head import prepare_images

    d = cfg.data
    key = json.dumps({"paths": [str(Path(p).resolve()) for p in paths], "size": size, "cameras": d.cameras,
                      "stride": d.stride, "ok": d.only_successful, "horizon": d.horizon}, sort_keys=True)
    path = Path(d.cache_dir) / f"images_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    frames = open_frames(paths, cfg)
    out = np.empty((len(frames), len(frames.cameras), 3, size, size), np.uint8)
    for i, (e, t) in enumerate(frames.index):
        ep = frames.episodes[e]
        out[i] = np.round(prepare_images([ep.images[c][t] for c in frames.cameras], size) * 255.0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    log(f"images: {len(out)} frames at {size} px cached in {path}")
    return out


def sim_target_labels(paths: tuple[str, ...], cfg: HeadRunConfig) -> np.ndarray:
    """[target xy, every block's xy in tasks.OBJECT_NAMES order (m, arm base frame), target index]
    per frame of sim episodes, [N, 2 + 2 * blocks + 1], in RobotFrames order.

    Privileged, training-only labels for the auxiliary loss: the episode's seed and family
    regenerate its layout (roboalign.sim.tasks is deterministic in the seed)."""
    from roboalign.sim import tasks
    from roboalign.training.episodes import find_episode_dirs

    d, out = cfg.data, []
    for p in paths:
        for ep_dir in find_episode_dirs(p):
            meta = json.loads((ep_dir / "episode.json").read_text())
            if d.only_successful and not meta.get("success"):
                continue
            task = (meta.get("metadata") or {}).get("task") or {}
            if "seed" not in task or "family" not in task:
                raise ValueError(f"{ep_dir}: no task seed/family in episode.json; aux_target sim_target_xy "
                                 "needs episodes recorded by the simulator (roboalign sim demos / train make-data)")
            info, layout = tasks.sample_task(int(task["seed"]), task["family"])
            if info.target != task.get("target"):
                raise ValueError(f"{ep_dir}: regenerated task {info.target} differs from the recorded {task.get('target')}")
            row = np.concatenate([layout.block_xy[info.target]] + [layout.block_xy[n] for n in tasks.OBJECT_NAMES]
                                 + [[tasks.OBJECT_NAMES.index(info.target)]])
            out += [row] * len(range(0, int(meta["length"]), d.stride))
    return np.asarray(out, dtype=np.float64)


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
    import torch

    from roboalign.policy.action_head import FlowMatchingHead, HeadConfig
    from roboalign.policy.backbone import Backbone
    from roboalign.policy.vla import VLAInfo, VLAPolicy, truncate_backbone

    t = cfg.train
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
    if t.aux_target == "sim":
        raw = sim_target_labels(cfg.data.train, cfg)
        aux_stats = NormStats.fit(raw[:, :-1])  # positions normalised; the index column stays as is
        norm = lambda r: np.concatenate([aux_stats.normalize(r[:, :-1]), r[:, -1:]], axis=1)  # noqa: E731
        aux_train = norm(raw)
        aux_val = norm(sim_target_labels(cfg.data.val, cfg)) if val_fs else None
    elif t.aux_target != "none":
        raise ValueError(f"train.aux_target {t.aux_target!r}: use none or sim")
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
    from roboalign.training.episodes import find_episode_dirs

    dirs = find_episode_dirs(path)
    if not dirs:
        return {}
    return json.loads((dirs[0] / "episode.json").read_text()).get("metadata", {})


def sim_success(policy, ev, log=print) -> dict[str, Any]:
    """Success rate of `policy` over ev.sim_episodes seeded episodes (direct loop, no ROS)."""
    from roboalign.sim.arm import SimArm
    from roboalign.sim.rollout import run_episode

    arm = SimArm(render_size=tuple(policy.info.image_size), cameras=policy.info.cameras, task_family=ev.family)
    results = [run_episode(arm, policy, seed=ev.seed + i, max_seconds=ev.max_seconds, replan_period=ev.replan_period)
               for i in range(ev.sim_episodes)]
    ok = sum(r.success for r in results)
    out = {"episodes": len(results), "successes": ok, "success_rate": ok / len(results), "seed": ev.seed,
           "family": ev.family, "mean_infer_ms": round(float(np.mean([r.mean_infer_ms for r in results])), 2)}
    log(f"sim: {ok}/{len(results)} succeeded (seeds {ev.seed}..{ev.seed + len(results) - 1}, {ev.family})")
    return out
