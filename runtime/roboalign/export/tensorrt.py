"""ONNX -> TensorRT engine (build time; optional: needs a GPU, `tensorrt` and CUDA torch).

    build_engine("models/x/onnx/head_sampler.onnx", "head_sampler.fp16.engine",
                 precision="fp16", shapes=head_shapes(head_config))
    ensure_sampler_engine(head, folder, num_steps, "fp16")   # the engine serving finds, built if missing
    ensure_backbone_engine(backbone, layer, folder, "fp16")  # same for the backbone's feature graph

Written against TensorRT 10's Python API (name-based I/O tensors): trt.Builder ->
create_network -> trt.OnnxParser.parse_from_file -> create_builder_config (WORKSPACE pool
limit, BuilderFlag.FP16 / BF16) -> one optimization profile per dynamic input (min/opt/max) ->
build_serialized_network. Running an engine is serve-time code: roboalign.policy.backends.tensorrt.

TensorRT does not install on the CPU development machines (the registry's wheels are stubs
that download from NVIDIA's index): everything here imports it lazily and raises
TensorRTUnavailable with what to install when it is missing.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from roboalign.policy.backends import graph
from roboalign.policy.backends.runners import PRECISIONS
from roboalign.policy.backends.tensorrt import TensorRTUnavailable, require_cuda, require_tensorrt

__all__ = ["ShapeRange", "backbone_shapes", "build_engine", "ensure_backbone_engine", "ensure_sampler_engine",
           "head_shapes"]


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


def ensure_sampler_engine(head, folder: str | Path | None, num_steps: int, precision: str = "fp16",
                          max_batch: int = 8, max_tokens: int = 1024, workspace_mb: int = 1024, log=None) -> Path:
    """The engine serving finds for `head` (policy.backends.graph.engine_path), built now if missing
    (from the sampler graph serving would use, exported into the cache if needed)."""
    from roboalign.export.onnx import ensure_sampler_onnx

    trt = require_tensorrt()
    require_cuda()
    engine = graph.engine_path(head, num_steps, precision, getattr(trt, "__version__", "x"))
    if not engine.is_file():
        onnx_path = ensure_sampler_onnx(head, folder, num_steps, log)
        if log:
            log(f"building a {precision} TensorRT engine at {engine}")
        build_engine(onnx_path, engine, precision=precision, workspace_mb=workspace_mb,
                     shapes=head_shapes(head.config, max_batch=max_batch,
                                        tokens=(min(8, max_tokens), min(96, max_tokens), max_tokens)))
    return engine


def backbone_shapes(feeds: dict, max_batch: int = 8, max_tokens: int = 1024) -> dict[str, ShapeRange]:
    """Profiles for the backbone feature graph from one batch-1 example's feeds (backbone_feeds):
    opt = the example; min = 1 token, one merged patch group; max = max_batch prompts of
    max_tokens with max_batch times the example's images."""
    t = int(feeds["input_ids"].shape[1])
    n = int(feeds["pixel_values"].shape[0])
    patch_dim = int(feeds["pixel_values"].shape[1])
    unit = n // int(feeds["window_index"].shape[0])
    hi_t, hi_n = max(max_tokens, t), n * max_batch

    r = ShapeRange
    return {
        "input_ids": r((1, 1), (1, t), (max_batch, hi_t)),
        "attention_mask": r((1, 1), (1, t), (max_batch, hi_t)),
        "position_ids": r((3, 1, 1), (3, 1, t), (3, max_batch, hi_t)),
        "pixel_values": r((unit, patch_dim), (n, patch_dim), (hi_n, patch_dim)),
        "vision_position_ids": r((unit, 2), (n, 2), (hi_n, 2)),
        "window_index": r((1,), (n // unit,), (hi_n // unit,)),
        "reverse_index": r((1,), (n // unit,), (hi_n // unit,)),
        "window_segments": r((unit,), (n,), (hi_n,)),
        "image_segments": r((unit,), (n,), (hi_n,)),
    }


def ensure_backbone_engine(backbone, layer: int, folder: str | Path | None, precision: str = "fp16",
                           max_batch: int = 8, max_tokens: int = 1024, workspace_mb: int = 4096, log=None,
                           example=None, image_size: int = 224) -> Path:
    """The backbone engine serving finds (policy.backends.backbone_graph.backbone_engine_path),
    built now if missing from the feature graph (exported into the cache if needed). example:
    processor output of one prompt, the profile's opt shapes (default: the example encoding with
    one image of image_size px per camera)."""
    from roboalign.export.backbone import ensure_backbone_onnx, example_encoding
    from roboalign.policy.backends.backbone_graph import backbone_engine_path, backbone_feeds

    trt = require_tensorrt()
    require_cuda()
    engine = backbone_engine_path(backbone, layer, precision, getattr(trt, "__version__", "x"))
    if not engine.is_file():
        onnx_path = ensure_backbone_onnx(backbone, layer, folder, log)
        enc = example if example is not None else example_encoding(backbone, texts=("touch the red block",), size=image_size)
        if log:
            log(f"building a {precision} TensorRT engine of the backbone at {engine}")
        build_engine(onnx_path, engine, precision=precision, workspace_mb=workspace_mb,
                     shapes=backbone_shapes(backbone_feeds(backbone, enc), max_batch, max_tokens))
    return engine
