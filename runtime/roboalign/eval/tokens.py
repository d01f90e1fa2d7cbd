"""Held-out action-token metrics of a backbone checkpoint (`roboalign eval tokens`).

For each held-out robot frame (image(s), instruction, state -> next H actions):

token_accuracy      teacher-forced: share of target FAST tokens that are the model's argmax
                    given the correct prefix (one forward pass per batch).
prefix_accuracy     generated: length of the correct prefix of generated FAST ids / target
                    length (stage 2's action reward), averaged.
exact_match_rate    generated FAST ids equal the target ids.
valid_rate          generated text holds one well-formed <ACTION_START>...<ACTION_END> span that
                    decodes to an [H, D] chunk inside the normalised range.
l1_normalized       mean |decoded - target| in the FAST normaliser's [-1, 1] units (action
                    frame), over valid generations.
l1_physical         the same in physical units (rad; gripper 0..1), absolute targets.
l1_physical_fallback  physical L1 over all frames when every invalid generation is replaced by
                    holding the current joints (what the runtime does with a refused chunk).
baselines           the same L1s, on the same valid frames and on all frames, for
                    mean_chunk           the training set's mean chunk in the action frame (with
                                         the delta frame: current state + mean motion)
                    mean_chunk_absolute  the training set's mean chunk of absolute targets
                    hold                 repeating the current joint positions
Generation metrics are computed for free greedy decoding (top level) and, by default, again
with constrained decoding (policy/constrained.py), under `constrained`.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.policy import checkpoint as ckpt


@dataclasses.dataclass
class TokenEval:
    """Top-level generation metrics are for free (unconstrained) greedy decoding: what the model
    itself learned, comparable across stages. `constrained` holds the same metrics with
    policy/constrained.py's decoding (what FastTokenPolicy serves), or None if not run."""

    n_frames: int
    token_accuracy: float
    prefix_accuracy: float
    exact_match_rate: float
    valid_rate: float
    l1_normalized: float | None
    l1_physical: float | None
    l1_physical_per_dim: list[float] | None
    l1_physical_fallback: float | None
    baselines: dict[str, dict[str, float]]
    invalid_reasons: dict[str, int]
    mean_target_tokens: float
    seconds: float
    constrained: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _prefix(gen: list[int], target: list[int]) -> int:
    n = 0
    for a, b in zip(gen, target):
        if a != b:
            break
        n += 1
    return n


def _teacher_forced(policy, builder, samples, batch_size: int) -> tuple[int, int]:
    """(correct, total) argmax predictions on target action-token positions."""
    import torch

    from roboalign.policy.collate import ChatCollator

    collate = ChatCollator(policy.backbone.processor)
    act_ids = policy.bridge.fast_to_llm(range(policy.bridge.num_fast))
    lut = torch.zeros(len(policy.backbone.tokenizer) + 1, dtype=torch.bool)
    lut[act_ids] = True
    correct = total = 0
    model = policy.backbone.model
    for i in range(0, len(samples), batch_size):
        rows = [builder(s) for s in samples[i : i + batch_size]]
        batch = collate([{"images": r.images, "prompt": r.prompt, "target": r.target} for r in rows])
        labels = batch.pop("labels")
        batch = {k: v.to(policy.backbone.device) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(**batch, use_cache=False).logits
        pred = logits[:, :-1].argmax(-1).cpu()
        tgt = labels[:, 1:]
        mask = (tgt >= 0) & lut[tgt.clamp(min=0)]
        correct += int((pred[mask] == tgt[mask]).sum())
        total += int(mask.sum())
    return correct, total


def _mean(x):
    return float(np.mean(x)) if len(x) else None


def _generation_metrics(policy, samples, space, means: dict, batch_size: int, constrained: bool, log) -> dict:
    from roboalign.core import Observation

    norm = policy.bridge.fast.normalizer
    horizon = policy.info.horizon
    prefix, exact, valid, l1n, l1p, per_dim, fallback = [], [], [], [], [], [], []
    # per baseline: (normalised valid, physical valid, physical all)
    base = {name: ([], [], []) for name in ("mean_chunk", "mean_chunk_absolute", "hold")}
    reasons: dict[str, int] = {}
    for i in range(0, len(samples), batch_size):
        batch = samples[i : i + batch_size]
        obs = [Observation(images=dict(zip(s.cameras, [np.asarray(im) for im in s.images])),
                           joint_positions=s.state, instruction=s.instruction) for s in batch]
        for s, p in zip(batch, policy.predict(obs, constrained=constrained)):
            target_frame = space.to_frame(s.chunk, s.state)
            target_ids = policy.bridge.fast.encode(target_frame)
            prefix.append(_prefix(p.fast_ids, target_ids) / len(target_ids))
            exact.append(p.fast_ids == target_ids)
            valid.append(p.valid)
            guesses = {"hold": space.to_frame(np.repeat(s.state[None], horizon, 0), s.state)}
            if means.get("frame") is not None:
                guesses["mean_chunk"] = means["frame"]
            if means.get("absolute") is not None:
                guesses["mean_chunk_absolute"] = space.to_frame(means["absolute"], s.state)
            for name, g in guesses.items():
                phys = float(np.abs(space.from_frame(g, s.state) - s.chunk).mean())
                base[name][2].append(phys)
                if p.valid:
                    base[name][0].append(float(np.abs(norm.normalize(g) - norm.normalize(target_frame)).mean()))
                    base[name][1].append(phys)
            if p.valid:
                l1n.append(float(np.abs(norm.normalize(p.frame_actions) - norm.normalize(target_frame)).mean()))
                err = np.abs(p.actions - s.chunk)
                l1p.append(float(err.mean()))
                per_dim.append(err.mean(axis=0))
            fallback.append(l1p[-1] if p.valid else base["hold"][2][-1])
            if not p.valid:
                reasons[p.code] = reasons.get(p.code, 0) + 1
        log(f"  {'constrained' if constrained else 'free'} decoding: {min(i + batch_size, len(samples))}/"
            f"{len(samples)} frames, valid so far {np.mean(valid):.2f}")
    return {
        "prefix_accuracy": float(np.mean(prefix)),
        "exact_match_rate": float(np.mean(exact)),
        "valid_rate": float(np.mean(valid)),
        "l1_normalized": _mean(l1n),
        "l1_physical": _mean(l1p),
        "l1_physical_per_dim": np.mean(per_dim, axis=0).round(5).tolist() if per_dim else None,
        "l1_physical_fallback": _mean(fallback),
        "baselines": {name: {"l1_normalized_valid": _mean(v[0]), "l1_physical_valid": _mean(v[1]),
                             "l1_physical_all": _mean(v[2])} for name, v in base.items() if v[2]},
        "invalid_reasons": reasons,
    }


def evaluate_tokens(ckpt_dir: str | Path, data: str | Path, max_frames: int | None = None, batch_size: int = 16,
                    stride: int = 1, seed: int = 0, device: str | None = None, constrained: bool = False,
                    log=print) -> TokenEval:
    """Metrics of the module docstring; constrained=True adds a constrained-decoding pass."""
    from roboalign.data.sources import open_robot_source
    from roboalign.policy.chat import ActionSpace, ChatBuilder
    from roboalign.policy.integrity import read_npy
    from roboalign.policy.token_policy import FastTokenPolicy

    t0 = time.perf_counter()
    policy = FastTokenPolicy.from_pretrained(ckpt_dir, device=device)
    info = policy.info
    frames = open_robot_source(data, info.horizon, info.cameras or None, stride)
    idx = np.arange(len(frames))
    if max_frames and len(idx) > max_frames:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_frames, replace=False))
    samples = [frames[int(i)] for i in idx]
    space = ActionSpace(info.horizon, info.action_frame, info.absolute_dims)
    builder = ChatBuilder(policy.bridge, policy.backbone.prompt_format, space)
    log(f"eval tokens: {len(samples)} frames from {data} ({len(frames)} available)")
    correct, total = _teacher_forced(policy, builder, samples, batch_size)
    means = {key: read_npy(Path(ckpt_dir) / name) if (Path(ckpt_dir) / name).is_file() else None
             for key, name in (("frame", ckpt.MEAN_CHUNK_FILE), ("absolute", ckpt.MEAN_ABS_CHUNK_FILE))}
    free = _generation_metrics(policy, samples, space, means, batch_size, False, log)
    cons = _generation_metrics(policy, samples, space, means, batch_size, True, log) if constrained else None
    target_len = [len(policy.bridge.fast.encode(space.to_frame(s.chunk, s.state))) for s in samples]
    return TokenEval(n_frames=len(samples), token_accuracy=correct / max(total, 1), **free,
                     mean_target_tokens=float(np.mean(target_len)), seconds=round(time.perf_counter() - t0, 1),
                     constrained=cons)


def _fmt(x):
    return "n/a" if x is None else f"{x:.4f}"


def _gen_lines(name: str, g: dict) -> list[str]:
    lines = [f"{name}: prefix accuracy {g['prefix_accuracy']:.3f}   exact match {g['exact_match_rate']:.3f}   "
             f"valid {g['valid_rate']:.3f}",
             f"  decoded L1 (valid frames): normalised {_fmt(g['l1_normalized'])}   physical {_fmt(g['l1_physical'])}",
             f"  physical L1, all frames, invalid -> hold: {_fmt(g['l1_physical_fallback'])}"]
    for b, v in g["baselines"].items():
        lines.append(f"  baseline {b:<19}: normalised {_fmt(v['l1_normalized_valid'])}   physical "
                     f"{_fmt(v['l1_physical_valid'])} (same valid frames), {_fmt(v['l1_physical_all'])} (all frames)")
    if g["invalid_reasons"]:
        lines.append("  invalid: " + ", ".join(f"{k} x{v}" for k, v in sorted(g["invalid_reasons"].items())))
    return lines


def format_report(r: TokenEval) -> str:
    lines = [f"frames {r.n_frames}   mean target length {r.mean_target_tokens:.1f} FAST tokens   ({r.seconds} s)",
             f"token accuracy (teacher-forced) {r.token_accuracy:.3f}"]
    lines += _gen_lines("free decoding", {k: getattr(r, k) for k in (
        "prefix_accuracy", "exact_match_rate", "valid_rate", "l1_normalized", "l1_physical", "l1_physical_fallback",
        "baselines", "invalid_reasons")})
    if r.constrained:
        lines += _gen_lines("constrained decoding", r.constrained)
    return "\n".join(lines)
