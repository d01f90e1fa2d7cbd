"""Inputs of stage-3 head training, cached: backbone features, the head's images, sim labels.

Why cache: the backbone is frozen, so its hidden states for a training frame never change.
They are computed once (batched, stopped after `feature_layer`) and stored as float16 in
data.cache_dir, keyed by the backbone weights, the layer, the data and the prompt format;
every later run with the same inputs starts training at once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

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
    def load(cls, path: Path) -> FeatureSet:
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
    from roboalign.data.frames import RobotFrames
    from roboalign.data.lerobot import is_lerobot_dir, load_lerobot_episodes
    from roboalign.data.sources import has_recordings, load_project_episodes, load_recorded_episodes

    d = cfg.data
    episodes = []
    for p in paths:
        episodes += (load_lerobot_episodes(p, None, d.only_successful) if is_lerobot_dir(p)
                     else load_recorded_episodes(p, d.only_successful) if has_recordings(p)
                     else load_project_episodes(p, d.only_successful))
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
    (same frame order as the features; the resize is head_image.prepare_images)."""
    from roboalign.policy.head_image import prepare_images

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


def _episode_records(path: str):
    """(where, metadata, success, length) of each episode at `path`, in the order open_frames reads
    them, without loading images: project episode folders, MCAP recordings (sealed, not partial,
    as load_recorded_episodes reads them) or a LeRobot export (whose metadata column carries the
    episode's)."""
    from roboalign.data.lerobot import is_lerobot_dir, iter_lerobot_episodes
    from roboalign.data.sources import find_episode_dirs, has_recordings

    if is_lerobot_dir(path):
        for name, ep in iter_lerobot_episodes(path, images=False):
            yield f"{path}:{name}", ep.metadata, ep.success, len(ep)
        return
    if has_recordings(path):
        from roboalign.data.recording_reader import find_recordings, load_recording

        for f in find_recordings(path):
            ep = load_recording(f, allow_partial=False, images=False)
            yield f, ep.metadata, ep.success, len(ep)
        return
    for ep_dir in find_episode_dirs(path):
        meta = json.loads((ep_dir / "episode.json").read_text())
        yield ep_dir, meta.get("metadata") or {}, bool(meta.get("success")), int(meta["length"])


def sim_target_labels(paths: tuple[str, ...], cfg: HeadRunConfig) -> np.ndarray:
    """[target xy, every block's xy in tasks.OBJECT_NAMES order (m, arm base frame), target index]
    per frame of sim episodes, [N, 2 + 2 * blocks + 1], in RobotFrames order.

    Privileged, training-only labels for the auxiliary loss: the episode's seed and family
    regenerate its layout (roboalign.sim.tasks is deterministic in the seed)."""
    from roboalign.sim import tasks

    d, out = cfg.data, []
    for p in paths:
        for where, meta, success, length in _episode_records(p):
            if d.only_successful and not success:
                continue
            task = meta.get("task")
            if not isinstance(task, dict) or "seed" not in task or "family" not in task:
                raise ValueError(f"{where}: no simulator task (seed, family, target) in the episode's metadata, so "
                                 "train.aux_target sim has no labels; it needs sim episodes (sim demos, train "
                                 "make-data, record --sim): for real-robot data --set train.aux_target=none")
            info, layout = tasks.sample_task(int(task["seed"]), task["family"])
            if info.target != task.get("target"):
                raise ValueError(f"{where}: regenerated task {info.target} differs from the recorded {task.get('target')}")
            row = np.concatenate([layout.block_xy[info.target]] + [layout.block_xy[n] for n in tasks.OBJECT_NAMES]
                                 + [[tasks.OBJECT_NAMES.index(info.target)]])
            out += [row] * len(range(0, length, d.stride))
    return np.asarray(out, dtype=np.float64)
