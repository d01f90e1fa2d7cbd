"""Head runners for VLAPolicy's backends: the same sampler, run by torch, onnxruntime or TensorRT.

Every runner has `run(features [B,T,C], feature_mask [B,T], state [B,Ds], noise [B,H,Da],
images [B,N,3,S,S] or None) -> actions [B,H,Da]` (float32 numpy, normalised), so the policy swaps backends without other
changes and a parity check compares them on identical inputs.

Where the graph comes from: `<checkpoint>/onnx/head_sampler.onnx` when it exists and its
metadata matches the head's weights and step count; otherwise it is exported on first use into
a cache folder ($ROBOALIGN_CACHE or ~/.cache/roboalign, keyed by the head's fingerprint), so a
read-only checkpoint folder still works. TensorRT engines are cached the same way (they are
specific to the GPU and TensorRT version, so they are never shipped).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from roboalign.export import onnx as onnx_export


def cache_root() -> Path:
    return Path(os.environ.get("ROBOALIGN_CACHE") or Path.home() / ".cache" / "roboalign")


class TorchHeadRunner:
    """The head's own sampler in torch (the reference the others are compared with)."""

    name = "torch"

    def __init__(self, head, num_steps: int | None = None):
        self.head, self.num_steps = head.eval(), int(num_steps or head.config.num_steps)

    def run(self, features, feature_mask, state, noise, images=None) -> np.ndarray:
        import torch

        dev = self.head.position.device
        as_t = lambda x: None if x is None else torch.as_tensor(np.asarray(x, np.float32), device=dev)  # noqa: E731
        with torch.no_grad():
            out = self.head.sample(as_t(features), as_t(feature_mask), as_t(state), as_t(noise), self.num_steps,
                                   as_t(images))
        return out.cpu().numpy()


class OnnxHeadRunner:
    """onnxruntime InferenceSession over a sampler graph (CPU by default; CUDA with onnxruntime-gpu)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        available = ort.get_available_providers()
        providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: np.ascontiguousarray(feeds[k], np.float32) for k in self.input_names})[0]

    def run(self, features, feature_mask, state, noise, images=None) -> np.ndarray:
        feeds = dict(zip(onnx_export.SAMPLER_INPUTS, (features, feature_mask, state, noise)))
        if images is not None:
            feeds[onnx_export.IMAGES_INPUT] = images
        return self.run_feeds(feeds)


class TensorRTHeadRunner:
    """A TensorRT engine built from the sampler graph (needs a GPU; see export/tensorrt.py)."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path):
        from roboalign.export.tensorrt import TensorRTEngine

        self.engine = TensorRTEngine(engine_path)

    def run(self, features, feature_mask, state, noise, images=None) -> np.ndarray:
        feeds = dict(zip(onnx_export.SAMPLER_INPUTS, (features, feature_mask, state, noise)))
        if images is not None:
            feeds[onnx_export.IMAGES_INPUT] = images
        return self.engine.run(feeds)[onnx_export.SAMPLER_OUTPUTS[0]]


def sampler_onnx(head, folder: str | Path | None, num_steps: int, log=None) -> Path:
    """A sampler graph matching `head` and `num_steps`: the checkpoint's own, or a cached export."""
    fp = onnx_export.head_fingerprint(head, num_steps)
    if folder is not None:
        shipped = Path(folder) / "onnx" / onnx_export.SAMPLER_FILE
        if shipped.is_file() and onnx_export.read_metadata(shipped).get("roboalign.head_fingerprint") == fp:
            return shipped
    cached = cache_root() / "onnx" / fp / onnx_export.SAMPLER_FILE
    if not cached.is_file():
        if log:
            log(f"exporting the head sampler ({num_steps} steps) to {cached}")
        onnx_export.export_head(head, cached.parent, "sampler", num_steps=num_steps)
    return cached


def sampler_engine(head, folder: str | Path | None, num_steps: int, precision: str = "fp16", log=None) -> Path:
    """A TensorRT engine for the sampler graph, built once per head/steps/precision (cached)."""
    from roboalign.export.tensorrt import build_engine, head_shapes, require_tensorrt

    trt = require_tensorrt()
    onnx_path = sampler_onnx(head, folder, num_steps, log)
    fp = onnx_export.head_fingerprint(head, num_steps)
    engine = cache_root() / "tensorrt" / f"{fp}.{precision}.trt{getattr(trt, '__version__', 'x')}.engine"
    if not engine.is_file():
        if log:
            log(f"building a {precision} TensorRT engine at {engine}")
        build_engine(onnx_path, engine, precision=precision, shapes=head_shapes(head.config))
    return engine


def make_head_runner(backend: str, head, folder: str | Path | None = None, *, num_steps: int | None = None,
                     precision: str = "fp16", log=None):
    """Runner for `backend` ("torch", "onnxruntime", "tensorrt")."""
    steps = int(num_steps or head.config.num_steps)
    if backend == "torch":
        return TorchHeadRunner(head, steps)
    if backend == "onnxruntime":
        return OnnxHeadRunner(sampler_onnx(head, folder, steps, log))
    if backend == "tensorrt":
        return TensorRTHeadRunner(sampler_engine(head, folder, steps, precision, log))
    raise ValueError(f"unknown backend {backend!r}: choose torch, onnxruntime or tensorrt")
