"""ONNX -> TensorRT engine, and a runner for it (optional: needs a GPU, `tensorrt` and CUDA torch).

    build_engine("models/x/onnx/head_sampler.onnx", "models/x/onnx/head_sampler.fp16.engine",
                 precision="fp16", shapes=head_shapes(head_config))
    engine = TensorRTEngine("models/x/onnx/head_sampler.fp16.engine")
    out = engine.run({"features": f, "feature_mask": m, "state": s, "noise": n})   # numpy in, numpy out

Written against TensorRT 10's Python API (name-based I/O tensors): trt.Builder ->
create_network -> trt.OnnxParser.parse_from_file -> create_builder_config (WORKSPACE pool
limit, BuilderFlag.FP16 / BF16) -> one optimization profile per dynamic input (min/opt/max) ->
build_serialized_network -> trt.Runtime.deserialize_cuda_engine; inference sets each input's
shape (set_input_shape), binds device buffers by name (set_tensor_address) and enqueues with
execute_async_v3 on a CUDA stream. Device buffers are torch CUDA tensors, so no pycuda is needed.

TensorRT does not install on the CPU development machines (the registry's wheels are stubs
that download from NVIDIA's index): everything here imports it lazily and raises
TensorRTUnavailable with what to install when it is missing.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("fp32", "fp16", "bf16")


class TensorRTUnavailable(RuntimeError):
    """TensorRT (or a CUDA device) is not available here."""


def require_tensorrt():
    """The `tensorrt` module, or TensorRTUnavailable saying how to get it."""
    try:
        import tensorrt as trt  # noqa: PLC0415
    except ImportError as exc:
        raise TensorRTUnavailable(
            "TensorRT is not installed: on a GPU workstation `pip install roboalign[gpu]` (tensorrt from "
            "NVIDIA's index, matching your CUDA driver), or use --backend onnxruntime / torch "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not hasattr(trt, "Builder"):
        raise TensorRTUnavailable("the installed `tensorrt` package is a stub without the library; install the "
                                  "real wheel from NVIDIA's index (pip install tensorrt --extra-index-url "
                                  "https://pypi.nvidia.com)")
    return trt


def _require_cuda():
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailable("TensorRT engines run on an NVIDIA GPU, and torch sees no CUDA device here")
    return torch


@dataclasses.dataclass(frozen=True)
class ShapeRange:
    """Optimisation-profile shapes of one input: smallest, most common and largest."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def head_shapes(config, max_batch: int = 8, tokens: tuple[int, int, int] = (16, 96, 1024)) -> dict[str, ShapeRange]:
    """Profiles for the sampler graph of a HeadConfig (batch 1..max_batch, tokens min/opt/max)."""
    c = config
    lo, opt, hi = tokens

    def r(*dims_by_level):
        return ShapeRange(*[tuple(d) for d in dims_by_level])

    shapes = {
        "features": r((1, lo, c.feature_dim), (1, opt, c.feature_dim), (max_batch, hi, c.feature_dim)),
        "feature_mask": r((1, lo), (1, opt), (max_batch, hi)),
        "state": r((1, c.state_dim), (1, c.state_dim), (max_batch, c.state_dim)),
        "noise": r((1, c.horizon, c.action_dim), (1, c.horizon, c.action_dim), (max_batch, c.horizon, c.action_dim)),
    }
    if c.uses_images:
        img = (c.num_cameras, 3, c.image_size, c.image_size)
        shapes["images"] = r((1, *img), (1, *img), (max_batch, *img))
    return shapes


def build_engine(onnx_path: str | Path, engine_path: str | Path, *, precision: str = "fp16",
                 shapes: dict[str, ShapeRange] | None = None, workspace_mb: int = 1024, verbose: bool = False) -> Path:
    """Parse `onnx_path`, build a serialized engine at `engine_path` (returned)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {PRECISIONS}")
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if explicit is not None and int(getattr(trt, "__version__", "10").split(".")[0]) < 10:
        flags |= 1 << int(explicit)  # TensorRT 8.x needs it; 10.x is always explicit batch
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # also resolves a .onnx.data side file
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if precision == "fp16":
        if not getattr(builder, "platform_has_fast_fp16", True):
            raise TensorRTUnavailable("this GPU has no fast FP16; build with --precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        if not hasattr(trt.BuilderFlag, "BF16"):
            raise TensorRTUnavailable("this TensorRT has no BF16 builder flag (TensorRT >= 9 needed)")
        config.set_flag(trt.BuilderFlag.BF16)
    dynamic = [network.get_input(i) for i in range(network.num_inputs)
               if any(d < 0 for d in network.get_input(i).shape)]
    if dynamic:
        if not shapes:
            raise ValueError(f"inputs {[t.name for t in dynamic]} have dynamic shapes: pass shapes=")
        profile = builder.create_optimization_profile()
        for tensor in dynamic:
            if tensor.name not in shapes:
                raise ValueError(f"no shape range for dynamic input {tensor.name!r}")
            s = shapes[tensor.name]
            profile.set_shape(tensor.name, s.min, s.opt, s.max)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (run with verbose=True for the log)")
    engine_path = Path(engine_path)
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    return engine_path


class TensorRTEngine:
    """A deserialized engine + execution context; `run` takes and returns numpy arrays by name."""

    def __init__(self, engine_path: str | Path, device: int = 0):
        self.trt = trt = require_tensorrt()
        self.torch = torch = _require_cuda()
        self.device = torch.device("cuda", device)
        path = Path(engine_path)
        if not path.is_file():
            raise FileNotFoundError(f"TensorRT engine {path} not found: build it with `roboalign export tensorrt`")
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{path} did not deserialize: built by another TensorRT version or for another GPU?")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        self.stream = torch.cuda.Stream(device=self.device)

    def _torch_dtype(self, name: str):
        trt, torch = self.trt, self.torch
        table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
                 trt.DataType.INT32: torch.int32, trt.DataType.BOOL: torch.bool}
        for trt_name, torch_dtype in (("BF16", torch.bfloat16), ("INT64", torch.int64)):
            if hasattr(trt.DataType, trt_name):
                table[getattr(trt.DataType, trt_name)] = torch_dtype
        dtype = self.engine.get_tensor_dtype(name)
        if dtype not in table:
            raise TypeError(f"engine tensor {name!r} has type {dtype}, which this runner does not map")
        return table[dtype]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        missing = set(self.inputs) - set(feeds)
        if missing:
            raise ValueError(f"missing engine inputs {sorted(missing)}")
        keep: list[Any] = []
        with torch.cuda.stream(self.stream):
            for name in self.inputs:
                t = torch.as_tensor(np.ascontiguousarray(feeds[name])).to(self.device, self._torch_dtype(name))
                keep.append(t)
                self.context.set_input_shape(name, tuple(t.shape))
                self.context.set_tensor_address(name, int(t.data_ptr()))
            outs = {}
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                outs[name] = torch.empty(shape, dtype=self._torch_dtype(name), device=self.device)
                self.context.set_tensor_address(name, int(outs[name].data_ptr()))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
        self.stream.synchronize()
        return {k: v.float().cpu().numpy() for k, v in outs.items()}
