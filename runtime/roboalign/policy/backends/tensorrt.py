"""Running a TensorRT engine of the head's sampler (optional: needs a GPU, `tensorrt` and CUDA torch).

    engine = TensorRTEngine(path)
    out = engine.run({"features": f, "feature_mask": m, "state": s, "noise": n})   # numpy in, numpy out

Written against TensorRT 10's Python API (name-based I/O tensors): trt.Runtime ->
deserialize_cuda_engine -> create_execution_context; inference sets each input's shape
(set_input_shape), binds device buffers by name (set_tensor_address) and enqueues with
execute_async_v3 on a CUDA stream. Device buffers are torch CUDA tensors, so no pycuda is needed.
Engines are built by roboalign.export.tensorrt (`roboalign export tensorrt`).

TensorRT does not install on the CPU development machines (the registry's wheels are stubs
that download from NVIDIA's index): everything here imports it lazily and raises
TensorRTUnavailable, one line saying what to install, when it is missing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roboalign.errors import CheckpointError, UsageError


class TensorRTUnavailable(UsageError, RuntimeError):
    """TensorRT (or a CUDA device) is not available here; the message says what to install or choose."""


def require_tensorrt():
    """The `tensorrt` module, or TensorRTUnavailable saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(
            "TensorRT is not installed: on a GPU workstation `pip install 'roboalign[gpu]'` (tensorrt from "
            "NVIDIA's index, matching your CUDA driver), or choose the onnxruntime or torch backend "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not hasattr(trt, "Builder"):
        raise TensorRTUnavailable("the installed `tensorrt` package is a stub without the library; install the "
                                  "real wheel from NVIDIA's index (pip install tensorrt --extra-index-url "
                                  "https://pypi.nvidia.com)")
    return trt


def require_cuda():
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailable("TensorRT engines run on an NVIDIA GPU, and torch sees no CUDA device here; "
                                  "choose the onnxruntime or torch backend")
    return torch


class TensorRTEngine:
    """A deserialized engine + execution context; `run` takes and returns numpy arrays by name."""

    def __init__(self, engine_path: str | Path, device: int = 0):
        self.trt = trt = require_tensorrt()
        self.torch = torch = require_cuda()
        self.device = torch.device("cuda", device)
        path = Path(engine_path)
        if not path.is_file():
            raise CheckpointError(path, "TensorRT engine not found: build it with `roboalign export tensorrt`")
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise CheckpointError(path, "did not deserialize: damaged, or built by another TensorRT version or "
                                        "for another GPU; build it again with `roboalign export tensorrt`")
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
