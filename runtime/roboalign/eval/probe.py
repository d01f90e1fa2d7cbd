"""Representation probe (RoboAlign, section 4): k-NN accuracy of robot-state classes from
backbone features, before and after alignment.

Features: the hidden states of one decoder layer, mean-pooled over the prompt tokens (images
and text) of a robot frame. Labels, per frame (`LABELS`):
  state         every joint quantised into `bins` levels per joint, combined into one class
                (so bins**D classes at most; use few bins);
  gripper       gripper state quantised into `bins` levels;
  progress      the frame's position in its episode in `bins` equal parts: the task-phase
                proxy (recorded episodes carry no phase label).
The prompt is built WITHOUT the proprioceptive state text by default: with the state written
in the prompt, a probe of the state measures the tokenizer, not the representation.

Split by episode (no frame of a test episode is in the bank), k-NN with cosine similarity and a
majority vote (ties broken by the summed similarity), accuracy against the majority-class
chance level of the test set. The numeric core (`knn_accuracy`, `split_by_episode`) is plain
numpy so it is tested on synthetic features.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

LABELS = ("state", "gripper", "progress")


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    accuracy: float
    chance: float  # frequency of the most common test class (a constant predictor's accuracy)
    k: int
    n_train: int
    n_test: int
    n_classes: int
    layer: int | None = None
    label: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def split_by_episode(
    episode_ids: Sequence[int | str], test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): whole episodes go to one side, seeded."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    eps = np.asarray([str(e) for e in episode_ids])
    unique = np.unique(eps)
    if len(unique) < 2:
        raise ValueError("the probe needs frames from at least two episodes (split is by episode)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    n_test = min(len(unique) - 1, max(1, int(round(test_fraction * len(unique)))))
    test_eps = set(unique[order[:n_test]].tolist())
    is_test = np.array([e in test_eps for e in eps])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int = 5) -> np.ndarray:
    """Majority vote of the k most cosine-similar training features."""
    train_x = _unit_rows(train_x)
    test_x = _unit_rows(test_x)
    train_y = np.asarray(train_y)
    if len(train_x) == 0:
        raise ValueError("k-NN probe: empty training bank")
    k = int(min(max(1, k), len(train_x)))
    sim = test_x @ train_x.T  # [n_test, n_train]
    nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    classes, y_idx = np.unique(train_y, return_inverse=True)
    votes = np.zeros((len(test_x), len(classes)))
    for j in range(k):
        cols = y_idx[nn[:, j]]
        # one vote each, plus a tiny similarity term so ties go to the closer class
        votes[np.arange(len(test_x)), cols] += 1.0 + 1e-6 * sim[np.arange(len(test_x)), nn[:, j]]
    return classes[votes.argmax(axis=1)]


def knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> ProbeResult:
    test_y = np.asarray(test_y)
    if len(test_y) == 0:
        raise ValueError("k-NN probe: empty test set")
    pred = knn_predict(train_x, train_y, test_x, k)
    _, counts = np.unique(test_y, return_counts=True)
    return ProbeResult(
        accuracy=float(np.mean(pred == test_y)),
        chance=float(counts.max() / len(test_y)),
        k=int(min(k, len(train_x))),
        n_train=int(len(train_x)),
        n_test=int(len(test_x)),
        n_classes=int(len(np.unique(np.concatenate([np.asarray(train_y), test_y])))),
    )


def quantize_state(states: np.ndarray, bins: int, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    """Class id per row of states [N, D]: each dim into `bins` equal-width levels, combined.

    low/high default to the data's min/max per dim (fit them on the training side and pass
    them for held-out data).
    """
    x = np.asarray(states, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    lo = x.min(0) if low is None else np.asarray(low, dtype=np.float64)
    hi = x.max(0) if high is None else np.asarray(high, dtype=np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    level = np.clip(np.floor((x - lo) / span * bins), 0, bins - 1).astype(np.int64)
    weights = bins ** np.arange(x.shape[1], dtype=np.int64)
    return level @ weights


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"k-NN probe: features must be [N, F], got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------------------------
# Features of a checkpoint on robot frames
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """label: one of LABELS (module docstring). dims: state dims for label "state"
    (default: the first three joints). layer: decoder block (None: the checkpoint's
    feature_layer, the one stage 3 reads). include_state: write the state text in the prompt.
    """

    label: str = "state"
    bins: int = 2
    dims: tuple[int, ...] = (0, 1, 2)
    gripper_dim: int = -1
    k: int = 5
    layer: int | None = None
    test_fraction: float = 0.3
    max_frames: int | None = 400
    include_state: bool = False
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"probe label {self.label!r}: use one of {LABELS}")


def frame_labels(frames, cfg: ProbeConfig) -> tuple[np.ndarray, np.ndarray]:
    """(labels, episode names) of every frame of a data.frames.RobotFrames."""
    episodes = np.asarray([frames.episodes[e].name for e, _ in frames.index])
    if cfg.label == "progress":
        frac = np.asarray([t / max(1, len(frames.episodes[e])) for e, t in frames.index])
        return np.minimum((frac * cfg.bins).astype(np.int64), cfg.bins - 1), episodes
    states = frames.states()
    wrong = [d for d in (cfg.gripper_dim,) + tuple(cfg.dims) if not -states.shape[1] <= d < states.shape[1]]
    if wrong:
        raise ValueError(f"probe dims {wrong} do not exist: the episodes have {states.shape[1]} joints")
    if cfg.label == "gripper":
        return quantize_state(states[:, [cfg.gripper_dim]], cfg.bins, np.zeros(1), np.ones(1)), episodes
    # Bin edges from all frames (labels are ground truth, not features: no leakage into the probe).
    return quantize_state(states[:, list(cfg.dims)], cfg.bins), episodes


def pooled_features(backbone, samples, layer: int, include_state: bool, batch_size: int = 16) -> np.ndarray:
    """Mean over the prompt tokens (images + text, padding excluded) of `layer`'s hidden states."""
    import torch

    from roboalign.policy import prompts
    from roboalign.policy.backbone import to_pil

    fmt = backbone.prompt_format
    out = []
    for i in range(0, len(samples), batch_size):
        batch = samples[i : i + batch_size]
        texts = [prompts.render(prompts.action_user_text(s.instruction, s.state if include_state else None, fmt),
                                s.cameras, None, fmt).prompt for s in batch]
        enc = backbone.encode(texts, [[to_pil(im) for im in s.images] for s in batch], padding_side="left")
        with torch.no_grad():
            f = backbone.features_from_inputs(enc, layer)
        m = f.attention_mask.to(f.hidden.dtype).unsqueeze(-1)
        out.append(((f.hidden * m).sum(1) / m.sum(1).clamp(min=1)).float().cpu().numpy())
    return np.concatenate(out)


def probe_checkpoint(ckpt_dir, data, cfg: ProbeConfig = ProbeConfig(), log=print) -> ProbeResult:
    """k-NN probe of one checkpoint on the robot frames in `data` (split by episode)."""
    from roboalign.data.sources import open_robot_source
    from roboalign.policy.backbone import Backbone

    bb = Backbone.from_pretrained(ckpt_dir)
    info = bb.info
    horizon = info.horizon if info and info.horizon else 1
    frames = open_robot_source(data, horizon, (info.cameras if info else None) or None)
    labels, episodes = frame_labels(frames, cfg)
    idx = np.arange(len(frames))
    if cfg.max_frames and len(idx) > cfg.max_frames:
        idx = np.sort(np.random.default_rng(cfg.seed).choice(idx, cfg.max_frames, replace=False))
    layer = bb.resolve_layer(cfg.layer if cfg.layer is not None else (info.feature_layer if info and info.feature_layer else -1))
    log(f"probe: {len(idx)} frames, label {cfg.label}, layer {layer}/{bb.num_layers}, k {cfg.k}")
    feats = pooled_features(bb, [frames[int(i)] for i in idx], layer, cfg.include_state, cfg.batch_size)
    tr, te = split_by_episode(episodes[idx], cfg.test_fraction, cfg.seed)
    res = knn_accuracy(feats[tr], labels[idx][tr], feats[te], labels[idx][te], cfg.k)
    return dataclasses.replace(res, layer=layer, label=cfg.label)
