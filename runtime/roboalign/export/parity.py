"""Parity of an exported head against torch: cosine similarity and absolute differences.

    report = head_parity(head, OnnxHeadRunner(path), inputs)      # ParityReport (runners: policy.backends)
    report.passed                                                 # cosine >= 0.999 (GR00T's bar)

Inputs are the head's real inputs when a policy and observations are given (backbone features
of sim frames), else random tensors of the graph's shapes. Both sides get identical noise, so
any difference is numerical (operator fusion, kernel choice, reduced precision), not sampling.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

COSINE_THRESHOLD = 0.999


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """cosine: of the flattened outputs (all samples together); min_cosine: worst single sample;
    max_abs_diff / mean_abs_diff: in the normalised action space ([-1, 1] per dimension)."""

    backend: str
    graph: str
    samples: int
    cosine: float
    min_cosine: float
    max_abs_diff: float
    mean_abs_diff: float
    threshold: float = COSINE_THRESHOLD

    @property
    def passed(self) -> bool:
        return bool(self.min_cosine >= self.threshold and np.isfinite(self.max_abs_diff))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed}

    def summary(self) -> str:
        return (f"{self.backend} vs torch ({self.graph}, {self.samples} samples): cosine {self.cosine:.6f} "
                f"(worst sample {self.min_cosine:.6f}), max |diff| {self.max_abs_diff:.2e}, "
                f"mean |diff| {self.mean_abs_diff:.2e} -> {'PASS' if self.passed else 'FAIL'} "
                f"(threshold {self.threshold})")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def compare(reference: np.ndarray, other: np.ndarray, backend: str, graph: str = "sampler",
            threshold: float = COSINE_THRESHOLD) -> ParityReport:
    ref, oth = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if ref.shape != oth.shape:
        raise ValueError(f"output shapes differ: torch {ref.shape}, {backend} {oth.shape}")
    diff = np.abs(ref - oth)
    per = [cosine(r, o) for r, o in zip(ref, oth)] if ref.ndim > 1 else [cosine(ref, oth)]
    return ParityReport(backend=backend, graph=graph, samples=int(ref.shape[0]) if ref.ndim > 1 else 1,
                        cosine=cosine(ref, oth), min_cosine=float(min(per)), max_abs_diff=float(diff.max()),
                        mean_abs_diff=float(diff.mean()), threshold=threshold)


def random_head_inputs(config, samples: int = 8, tokens: int = 64, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """(features, mask, state, noise[, images]) per sample, batch 1 each, random but of the real shapes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(samples):
        t = tokens - (i % 4) * 3
        mask = np.ones((1, t), np.float32)
        x = (rng.standard_normal((1, t, config.feature_dim)).astype(np.float32), mask,
             rng.uniform(-1, 1, (1, config.state_dim)).astype(np.float32),
             rng.standard_normal((1, config.horizon, config.action_dim)).astype(np.float32))
        if config.uses_images:
            s = config.image_size
            x += (rng.uniform(0, 1, (1, config.num_cameras, 3, s, s)).astype(np.float32),)
        out.append(x)
    return out


def policy_head_inputs(policy, observations: Sequence, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """The head's real inputs for `observations` (torch backbone features), batch 1 each."""
    rng = np.random.default_rng(seed)
    out = []
    for obs in observations:
        feats, mask = policy.features([obs])
        state = policy.normalized_state([obs])
        noise = rng.standard_normal((1, policy.info.horizon, policy.info.action_dim)).astype(np.float32)
        images = policy.head_images([obs])
        out.append((feats.cpu().numpy(), mask.cpu().numpy(), state, noise) + (() if images is None else (images,)))
    return out


def head_parity(head, runner, inputs: Sequence[tuple[np.ndarray, ...]], num_steps: int | None = None,
                threshold: float = COSINE_THRESHOLD) -> ParityReport:
    """Run torch and `runner` on the same inputs; compare the sampled (normalised) chunks."""
    from roboalign.policy.backends import TorchHeadRunner

    ref = TorchHeadRunner(head, num_steps)
    a = np.concatenate([ref.run(*x) for x in inputs])
    b = np.concatenate([runner.run(*x) for x in inputs])
    return compare(a, b, getattr(runner, "name", type(runner).__name__), "sampler", threshold)


def chain_parity(policy, head_runner, backbone_runner, observations: Sequence, threshold: float = COSINE_THRESHOLD,
                 seed: int = 0) -> ParityReport:
    """The whole VLA: torch backbone -> torch head vs `backbone_runner` -> `head_runner`, one
    observation at a time with identical noise; compares the normalised chunks."""
    import torch

    from roboalign.policy.backends import TorchHeadRunner
    from roboalign.policy.backends.backbone_graph import backbone_feeds

    rng = np.random.default_rng(seed)
    torch_head = TorchHeadRunner(policy.head, policy.num_steps)
    refs, outs = [], []
    for obs in observations:
        enc = policy.encode([obs])
        state = policy.normalized_state([obs])
        noise = rng.standard_normal((1, policy.info.horizon, policy.info.action_dim)).astype(np.float32)
        images = policy.head_images([obs])
        with torch.no_grad():  # the reference: the torch backbone itself, whatever the policy's backend
            hidden = policy.backbone.features_from_inputs(enc, policy.info.feature_layer).hidden.float().numpy()
        mask = enc["attention_mask"].float().numpy()
        refs.append(torch_head.run(hidden, mask, state, noise, images))
        hidden = backbone_runner.run(backbone_feeds(policy.backbone, enc))
        outs.append(head_runner.run(hidden, mask, state, noise, images))
    name = f"{getattr(backbone_runner, 'name', '?')}+{getattr(head_runner, 'name', '?')}"
    return compare(np.concatenate(refs), np.concatenate(outs), name, "vla", threshold)


def step_parity(head, onnx_path, samples: int = 8, seed: int = 0, threshold: float = COSINE_THRESHOLD) -> ParityReport:
    """Parity of the one-step denoiser graph (velocity) against head.forward on random inputs."""
    import onnxruntime as ort
    import torch

    from roboalign.export import onnx as onnx_export

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    refs, outs = [], []
    for i in range(samples):
        args = onnx_export.example_inputs(head, "step", batch=1 + i % 2, tokens=32 + 5 * i, seed=seed + i)
        with torch.no_grad():
            refs.append(head(*args).numpy())
        feeds = {n: a.numpy() for n, a in zip(onnx_export.graph_names("step", head)[0], args)}
        outs.append(sess.run(None, feeds)[0])
    return compare(np.concatenate(refs), np.concatenate(outs), "onnxruntime", "step", threshold)
