"""Head runners for VLAPolicy's backends: the same sampler, run by torch, onnxruntime or TensorRT.

Every runner has `run(features [B,T,C], feature_mask [B,T], state [B,Ds], noise [B,H,Da],
images [B,N,3,S,S] or None) -> actions [B,H,Da]` (float32 numpy, normalised), so the policy swaps
backends without other changes and a parity check compares them on identical inputs.

Runners only load what was built: the sampler graph (roboalign.policy.backends.graph says where
it is looked for) and TensorRT engines come from `roboalign export onnx | tensorrt`. A missing
or damaged one is a CheckpointError that names the file and the command that builds it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from roboalign.errors import CheckpointError, UsageError
from roboalign.policy.backends import graph

BACKENDS = ("torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")


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


def _sampler_feeds(features, feature_mask, state, noise, images) -> dict[str, np.ndarray]:
    feeds = dict(zip(graph.SAMPLER_INPUTS, (features, feature_mask, state, noise)))
    if images is not None:
        feeds[graph.IMAGES_INPUT] = images
    return feeds


def onnx_session(path: str | Path, providers: list[str] | None = None, threads: int | None = None):
    """An onnxruntime InferenceSession (CUDA first when onnxruntime-gpu has it); CheckpointError
    naming the file when it does not load, UsageError when onnxruntime is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError("the onnxruntime backend needs onnxruntime: pip install 'roboalign[export]' "
                         "(or onnxruntime-gpu), or choose the torch backend") from None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = int(threads)
    available = ort.get_available_providers()
    providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        return ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as exc:
        raise CheckpointError(path, f"onnxruntime cannot load this graph, damaged or truncated "
                                    f"({type(exc).__name__}); export it again with "
                                    "`roboalign export onnx`") from None


class OnnxHeadRunner:
    """onnxruntime InferenceSession over a sampler graph (CPU by default; CUDA with onnxruntime-gpu)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None):
        self.path = Path(path)
        self.session = onnx_session(path, providers, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: np.ascontiguousarray(feeds[k], np.float32) for k in self.input_names})[0]

    def run(self, features, feature_mask, state, noise, images=None) -> np.ndarray:
        return self.run_feeds(_sampler_feeds(features, feature_mask, state, noise, images))


class TensorRTHeadRunner:
    """A TensorRT engine built from the sampler graph (needs a GPU; see policy/backends/tensorrt.py)."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path):
        from roboalign.policy.backends.tensorrt import TensorRTEngine

        self.engine = TensorRTEngine(engine_path)

    def run(self, features, feature_mask, state, noise, images=None) -> np.ndarray:
        feeds = _sampler_feeds(features, feature_mask, state, noise, images)
        return self.engine.run(feeds)[graph.SAMPLER_OUTPUTS[0]]


def tensorrt_engine(head, folder: str | Path | None, num_steps: int, precision: str = "fp16") -> Path:
    """The cached engine of `head` for this GPU's TensorRT, or CheckpointError saying how to build it."""
    from roboalign.policy.backends.tensorrt import require_cuda, require_tensorrt

    trt = require_tensorrt()
    require_cuda()
    path = graph.engine_path(head, num_steps, precision, getattr(trt, "__version__", "x"))
    if not path.is_file():
        policy = folder if folder is not None else "DIR"
        raise CheckpointError(path, f"no {precision} TensorRT engine of this head with {num_steps} Euler steps; "
                                    f"build it on this machine with `roboalign export tensorrt --policy {policy} "
                                    f"--precision {precision} --num-steps {num_steps}`")
    return path


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, or one whose libraries are missing here, before any weights load."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "tensorrt":
        from roboalign.policy.backends.tensorrt import require_cuda, require_tensorrt

        require_tensorrt()
        require_cuda()


def make_head_runner(backend: str, head, folder: str | Path | None = None, *, num_steps: int | None = None,
                     precision: str = "fp16", threads: int | None = None):
    """Runner for `backend` ("torch", "onnxruntime", "tensorrt") over what `folder` / the cache hold."""
    steps = int(num_steps or head.config.num_steps)
    check_backend(backend)
    if backend == "torch":
        return TorchHeadRunner(head, steps)
    if backend == "tensorrt":
        if precision not in PRECISIONS:
            raise UsageError(f"TensorRT precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        return TensorRTHeadRunner(tensorrt_engine(head, folder, steps, precision))
    return OnnxHeadRunner(graph.require_sampler_onnx(head, folder, steps), threads=threads)
