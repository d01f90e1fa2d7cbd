"""The backbone's exported feature graph as serving uses it: feeds, fingerprint, lookup, runners.

    feeds = backbone_feeds(backbone, enc)         # processor output -> the graph's inputs (numpy)
    runner = make_backbone_runner("onnxruntime", backbone, layer, folder)
    hidden = runner.run(feeds)                    # [B, T, C] f32: block `layer`'s output

Why the graph takes more than the processor's output: Qwen2.5-VL computes three things with
Python loops over `image_grid_thw` and the token types (`.tolist()`, itertools.groupby): the
3-D mRoPE position ids of the prompt (`get_rope_index`), the vision tower's window order and
its attention windows (`cu_seqlens`), and the vision rotary positions. A trace bakes them in as
constants of the traced prompt; here they are computed per call in Python by transformers' own
functions (microseconds) and fed as tensors, so one graph serves any prompt length, image
grid and batch (docs/stage3.md, "Why the backbone's graph diverged").

Graph I/O (B batch, T prompt tokens, N vision patches of all images, all dynamic; int64 ids):

    input_ids [B, T], attention_mask [B, T] (1 = token, left padded), position_ids [3, B, T]
    pixel_values [N, 3*2*14*14] f32, vision_position_ids [N, 2] (h, w; window order),
    window_index [N/4], reverse_index [N/4] (its inverse), window_segments [N], image_segments [N]
      -> hidden [B, T, C] f32 (block `feature_layer`, before the final norm; padding rows finite)

Files: <checkpoint>/onnx/backbone_features.onnx or $ROBOALIGN_CACHE/onnx/<fingerprint>/...,
written by `roboalign export onnx --policy DIR` (roboalign.export.backbone). The fingerprint
hashes the config, the layer, the graph version and the weights the graph reads.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from roboalign.errors import CheckpointError, UsageError
from roboalign.policy.backends import graph

BACKBONE_FILE = "backbone_features.onnx"
BACKBONE_INPUTS = ("input_ids", "attention_mask", "position_ids", "pixel_values", "vision_position_ids",
                   "window_index", "reverse_index", "window_segments", "image_segments")
BACKBONE_OUTPUTS = ("hidden",)
BACKBONE_FINGERPRINT_KEY = "roboalign.backbone_fingerprint"
GRAPH_VERSION = "1"  # bump when BackboneFeatureGraph's computation changes
FAMILIES = ("qwen2_5_vl",)


def check_family(backbone) -> None:
    if backbone.family not in FAMILIES:
        raise UsageError(f"the backbone feature graph supports {FAMILIES}, not {backbone.family!r} "
                         "(Qwen3-VL's deepstack vision features are not wired); serve its backbone with torch")


def backbone_feeds(backbone, enc) -> dict[str, np.ndarray]:
    """Graph inputs for processor output `enc` (input_ids, attention_mask, mm_token_type_ids,
    pixel_values, image_grid_thw), computed with transformers' own index functions."""
    import torch
    from transformers.vision_utils import get_vision_cu_seqlens, get_vision_position_ids, get_vision_window_index

    check_family(backbone)
    if "pixel_values" not in enc or "image_grid_thw" not in enc:
        raise ValueError("the backbone graph needs at least one image per prompt (pixel_values, image_grid_thw)")
    model = backbone.model.model
    vcfg = model.config.vision_config
    merge = int(vcfg.spatial_merge_size)
    unit = merge * merge
    ids, mask, grid = enc["input_ids"].cpu(), enc["attention_mask"].cpu(), enc["image_grid_thw"].cpu()
    with torch.no_grad():
        position_ids, _ = model.get_rope_index(ids, image_grid_thw=grid, attention_mask=mask,
                                               mm_token_type_ids=enc["mm_token_type_ids"].cpu())
    vpos = get_vision_position_ids(grid, merge)                      # [N, 2], patch order
    window_index, cu_window = get_vision_window_index(grid, merge, int(vcfg.window_size), int(vcfg.patch_size))
    cu_full = get_vision_cu_seqlens(grid)
    n = int(vpos.shape[0])
    vpos = vpos.reshape(n // unit, unit, 2)[window_index].reshape(n, 2)  # window order, as the tower permutes
    tokens = torch.arange(n)
    # Segment id of each (window-ordered) patch: attention stays inside a window (window blocks)
    # or inside an image (full blocks). Window order keeps each image's patches contiguous.
    window_segments = torch.searchsorted(cu_window[1:].long(), tokens, right=True)
    image_segments = torch.searchsorted(cu_full[1:].long(), tokens, right=True)
    feeds = {
        "input_ids": ids, "attention_mask": mask, "position_ids": position_ids,
        "pixel_values": enc["pixel_values"].float().cpu(), "vision_position_ids": vpos,
        "window_index": window_index, "reverse_index": torch.argsort(window_index),
        "window_segments": window_segments, "image_segments": image_segments,
    }
    return {k: np.ascontiguousarray(v.numpy(), np.float32 if k == "pixel_values" else np.int64)
            for k, v in feeds.items()}


def backbone_fingerprint(backbone, layer: int) -> str:
    """Hash of the config, layer, graph version and the weights the feature graph reads."""
    k = backbone.resolve_layer(layer)
    h = hashlib.sha256(json.dumps(_architecture(backbone.model.config.to_dict()), sort_keys=True,
                                  default=str).encode())
    h.update(f"{k}:{GRAPH_VERSION}".encode())
    keep = ("model.visual.", "model.language_model.embed_tokens.") + tuple(
        f"model.language_model.layers.{i}." for i in range(k))
    for name, t in sorted(backbone.model.state_dict().items()):
        if name.startswith(keep):
            h.update(name.encode())
            h.update(t.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _architecture(config: dict) -> dict:
    """The config without what varies with where and how it was loaded (_name_or_path,
    _attn_implementation, transformers_version, dtype), recursively."""
    skip = ("transformers_version", "dtype", "torch_dtype")
    return {k: _architecture(v) if isinstance(v, dict) else v for k, v in config.items()
            if not str(k).startswith("_") and k not in skip}


def backbone_candidates(backbone, layer: int, folder: str | Path | None, fingerprint: str | None = None) -> list[Path]:
    fp = fingerprint or backbone_fingerprint(backbone, layer)
    cached = graph.cache_root() / graph.ONNX_DIR / fp / BACKBONE_FILE
    return ([Path(folder) / graph.ONNX_DIR / BACKBONE_FILE] if folder is not None else []) + [cached]


def find_backbone_onnx(backbone, layer: int, folder: str | Path | None) -> Path | None:
    """The first existing feature graph whose fingerprint matches, else None."""
    fp = backbone_fingerprint(backbone, layer)
    for path in backbone_candidates(backbone, layer, folder, fp):
        if path.is_file() and graph.read_metadata(path).get(BACKBONE_FINGERPRINT_KEY) == fp:
            return path
    return None


def require_backbone_onnx(backbone, layer: int, folder: str | Path | None) -> Path:
    path = find_backbone_onnx(backbone, layer, folder)
    if path is not None:
        return path
    where = backbone_candidates(backbone, layer, folder)[0]
    build = (f"roboalign export onnx --policy {folder}" if folder is not None
             else "roboalign.export.backbone.export_backbone(backbone, layer, out_dir)")
    raise CheckpointError(where, f"no ONNX feature graph of this backbone (layer {layer}) here or in "
                                 f"{graph.cache_root() / graph.ONNX_DIR}; build it with `{build}`")


def backbone_engine_path(backbone, layer: int, precision: str, tensorrt_version: str) -> Path:
    fp = backbone_fingerprint(backbone, layer)
    return graph.cache_root() / "tensorrt" / f"backbone-{fp}.{precision}.trt{tensorrt_version}.engine"


class OnnxBackboneRunner:
    """onnxruntime session over the feature graph; `run(feeds) -> hidden [B, T, C]` f32."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None):
        from roboalign.policy.backends.runners import onnx_session

        self.path = Path(path)
        self.session = onnx_session(path, providers, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: feeds[k] for k in self.input_names})[0]


class TensorRTBackboneRunner:
    """A TensorRT engine of the feature graph (GPU; built by `roboalign export tensorrt`)."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path):
        from roboalign.policy.backends.tensorrt import TensorRTEngine

        self.engine = TensorRTEngine(engine_path)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.engine.run(feeds)[BACKBONE_OUTPUTS[0]]


def make_backbone_runner(backend: str, backbone, layer: int, folder: str | Path | None = None, *,
                         precision: str = "fp16", threads: int | None = None):
    """None for torch (the policy calls the backbone itself), else a runner over what was built."""
    from roboalign.policy.backends.runners import check_backend

    check_backend(backend)
    if backend == "torch":
        return None
    check_family(backbone)
    if backend == "onnxruntime":
        return OnnxBackboneRunner(require_backbone_onnx(backbone, layer, folder), threads=threads)
    from roboalign.policy.backends.tensorrt import require_tensorrt

    trt = require_tensorrt()
    path = backbone_engine_path(backbone, layer, precision, getattr(trt, "__version__", "x"))
    if not path.is_file():
        raise CheckpointError(path, f"no {precision} TensorRT engine of this backbone; build it on this machine with "
                                    f"`roboalign export tensorrt --policy {folder or 'DIR'} --precision {precision}`")
    return TensorRTBackboneRunner(path)
