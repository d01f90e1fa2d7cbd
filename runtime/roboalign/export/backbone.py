"""torch -> ONNX for the backbone's feature path (Qwen2.5-VL cut after the head's layer).

    path = export_backbone(backbone, layer, "models/x/onnx")          # backbone_features.onnx
    report = backbone_parity(backbone, layer, OnnxBackboneRunner(path), encs)   # cosine >= 0.999

`BackboneFeatureGraph` is the same computation as transformers' Qwen2_5_VLModel forward up to
block `layer`, written so a trace records no data-dependent Python: everything transformers
derives from `image_grid_thw` and the token types with Python loops (mRoPE position ids, the
vision window order, attention windows, vision rotary positions) arrives as an input computed
per call by roboalign.policy.backends.backbone_graph.backbone_feeds; attention windows become
additive masks built from segment ids; image features enter the prompt by a cumsum gather
instead of masked_scatter; attention is plain matmul + softmax (eager), which onnxruntime and
TensorRT both take. It reuses the model's own modules (patch embed, norms, MLPs, merger, rotary
embeddings, decoder blocks), so weights are shared, not copied.

Why the old export diverged (cosine 0.9932, docs/stage3.md): it fed the model input_ids,
attention_mask, pixel_values and image_grid_thw but not `mm_token_type_ids`, without which
transformers 5 cannot build the 3-D mRoPE ids and silently falls back to 1-D positions 0..T-1.
The same call in plain torch gives the same 0.9932; the ONNX graph itself was faithful to it.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from roboalign.export.parity import COSINE_THRESHOLD, ParityReport, cosine
from roboalign.policy.backends.backbone_graph import (
    BACKBONE_FILE,
    BACKBONE_FINGERPRINT_KEY,
    BACKBONE_INPUTS,
    BACKBONE_OUTPUTS,
    backbone_candidates,
    backbone_feeds,
    backbone_fingerprint,
    check_family,
    find_backbone_onnx,
)

MASKED = -1.0e4  # additive bias of a masked key: exp() underflows to 0 in fp32 and fp16 alike,
#                  and a fully masked (padding) row stays finite, unlike -inf or finfo.min in fp16


def _segment_bias(segments: torch.Tensor) -> torch.Tensor:
    """[N] segment ids -> [N, N] additive bias: 0 inside a segment, MASKED across."""
    return (segments[:, None] != segments[None, :]).to(torch.float32) * MASKED


class BackboneFeatureGraph(nn.Module):
    """(BACKBONE_INPUTS) -> hidden [B, T, C] of block `layer` (see module docstring)."""

    def __init__(self, model, layer: int):
        super().__init__()
        m = model.model
        self.visual = m.visual
        self.embed_tokens = m.language_model.embed_tokens
        self.rotary_emb = m.language_model.rotary_emb
        self.layers = nn.ModuleList(list(m.language_model.layers)[:layer])
        self.image_token_id = int(model.config.image_token_id)
        self.fullatt = {int(i) for i in m.visual.fullatt_block_indexes}
        self.unit = int(m.visual.spatial_merge_unit)
        self.vision_dim = int(model.config.vision_config.hidden_size)

    def _vision_attention(self, attn, x, cos, sin, bias):
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

        q, k, v = attn.qkv(x).reshape(-1, 3, attn.num_heads, attn.head_dim).permute(1, 0, 2, 3).unbind(0)
        q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)                     # [N, heads, d]
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)       # [heads, N, d]
        w = torch.matmul(q, k.transpose(1, 2)) * attn.scaling + bias
        w = torch.softmax(w.float(), dim=-1).to(v.dtype)
        out = torch.matmul(w, v).transpose(0, 1).reshape(-1, self.vision_dim)
        return attn.proj(out)

    def vision(self, pixel_values, vision_position_ids, window_index, reverse_index, window_segments,
               image_segments) -> torch.Tensor:
        """Merged image features [N / 4, C] in prompt order (Qwen2_5_VisionTransformer's forward)."""
        v = self.visual
        x = v.patch_embed(pixel_values)
        x = x.reshape(-1, self.unit, self.vision_dim)[window_index].reshape(-1, self.vision_dim)
        cos, sin = v.rotary_pos_emb(x, vision_position_ids)
        window_bias, image_bias = _segment_bias(window_segments).to(x.dtype), _segment_bias(image_segments).to(x.dtype)
        for i, blk in enumerate(v.blocks):
            x = x + self._vision_attention(blk.attn, blk.norm1(x), cos, sin,
                                           image_bias if i in self.fullatt else window_bias)
            x = x + blk.mlp(blk.norm2(x))
        return v.merger(x)[reverse_index]

    def forward(self, input_ids, attention_mask, position_ids, pixel_values, vision_position_ids, window_index,
                reverse_index, window_segments, image_segments):
        image = self.vision(pixel_values, vision_position_ids, window_index, reverse_index, window_segments,
                            image_segments)
        text = self.embed_tokens(input_ids)
        is_image = input_ids == self.image_token_id
        # The k-th image token (row-major over the batch) takes the k-th merged image feature, as
        # masked_scatter does; text positions gather row 0 and are discarded by the where.
        row = (torch.cumsum(is_image.reshape(-1).to(torch.int64), 0) - 1).clamp(min=0)
        h = torch.where(is_image.unsqueeze(-1), image.to(text.dtype)[row].reshape(text.shape), text)
        cos, sin = self.rotary_emb(h, position_ids)
        # causal + key padding, additive [B, 1, T, T]; index t from a cumsum so T stays symbolic
        t = torch.cumsum(torch.ones_like(input_ids[0]), 0)
        allowed = (t[None, :] <= t[:, None])[None] & (attention_mask[:, None, :] > 0)
        bias = ((~allowed).to(h.dtype) * MASKED)[:, None]
        for layer in self.layers:
            out = layer(h, attention_mask=bias, position_embeddings=(cos, sin))
            h = out[0] if isinstance(out, tuple) else out
        return h


def graph_module(backbone, layer: int, dtype: torch.dtype = torch.float32, device: str = "cpu",
                 in_place: bool = False) -> BackboneFeatureGraph:
    """The export module over a copy of `backbone`'s model in `dtype` on `device` (default fp32
    CPU), eager attention. in_place: reuse the model itself (a full-size model on a GPU, where a
    copy would not fit twice); its attention implementation is switched to eager."""
    check_family(backbone)
    k = backbone.resolve_layer(layer)
    model = backbone.model if in_place else copy.deepcopy(backbone.model)
    model = model.to(device=device, dtype=dtype).eval()
    for cfg in (model.config, model.config.get_text_config(), model.config.vision_config):
        cfg._attn_implementation = "eager"
    return BackboneFeatureGraph(model, k).eval()


def export_backbone(backbone, layer: int, out_dir: str | Path, enc=None, *, opset: int = 18,
                    file_name: str = BACKBONE_FILE, check: bool = True, dtype: torch.dtype = torch.float32,
                    device: str = "cpu", in_place: bool = False, fingerprint: bool = True) -> Path:
    """Write the feature graph (dynamic batch, tokens, patches) to out_dir; returns its path.

    enc: processor output to trace with (default: a 2-prompt batch of different lengths, so left
    padding is in the trace). check: compare the written graph with torch on `enc` and refuse
    (ExportError) below cosine 0.999 on the real tokens (onnxruntime on the CPU: leave it off for
    full-size graphs and check the engine instead). dtype/device/in_place: see graph_module; a
    graph over 2 GB gets its weights in external data files beside it (protobuf's limit).
    fingerprint: record the weights' hash serving looks up (hashing billions of parameters takes
    a minute: a benchmark that runs the file directly leaves it off)."""
    import onnx

    from roboalign.export.onnx import ExportError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / file_name
    enc = enc if enc is not None else example_encoding(backbone)
    feeds = backbone_feeds(backbone, enc)
    module = graph_module(backbone, layer, dtype, device, in_place)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "position_ids": {1: "batch", 2: "tokens"}, "pixel_values": {0: "patches"},
            "vision_position_ids": {0: "patches"}, "window_index": {0: "merged"}, "reverse_index": {0: "merged"},
            "window_segments": {0: "patches"}, "image_segments": {0: "patches"},
            "hidden": {0: "batch", 1: "tokens"}}
    args = tuple(torch.from_numpy(feeds[k]).to(device) for k in BACKBONE_INPUTS)
    args = tuple(a.to(dtype) if a.is_floating_point() else a for a in args)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter and tracer notices: the trace is checked below
            torch.onnx.export(module, args, str(path), input_names=list(BACKBONE_INPUTS),
                              output_names=list(BACKBONE_OUTPUTS), opset_version=opset, dynamo=False,
                              dynamic_axes=axes)
    except Exception as exc:
        raise ExportError(f"ONNX export of the backbone feature graph failed: {type(exc).__name__}: {exc}") from exc
    model = onnx.load(str(path), load_external_data=False)
    del model.metadata_props[:]
    meta = {"roboalign.graph": "backbone_features", "roboalign.feature_layer": str(backbone.resolve_layer(layer))}
    if fingerprint:
        meta[BACKBONE_FINGERPRINT_KEY] = backbone_fingerprint(backbone, layer)
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))  # tensors in external files (a > 2 GB export) keep their references
    if check:
        from roboalign.policy.backends.backbone_graph import OnnxBackboneRunner

        report = backbone_parity(backbone, layer, OnnxBackboneRunner(path), [enc])
        if not report.passed:
            path.unlink(missing_ok=True)
            raise ExportError(f"the backbone feature graph disagrees with torch: {report.summary()}")
    return path


def ensure_backbone_onnx(backbone, layer: int, folder: str | Path | None, log=None) -> Path:
    """The feature graph serving finds (the checkpoint's when its fingerprint matches), else one
    exported now into the cache, where serving looks next."""
    found = find_backbone_onnx(backbone, layer, folder)
    if found is not None:
        return found
    cached = backbone_candidates(backbone, layer, folder)[-1]
    if log:
        log(f"exporting the backbone feature graph (layer {layer}) to {cached}")
    return export_backbone(backbone, layer, cached.parent)


def example_encoding(backbone, texts: Sequence[str] = ("touch the red block", "touch the blue cube now please"),
                     size: int = 56):
    """A 2-prompt batch (different lengths: left padding) with one grey image each."""
    from roboalign.core import Observation

    n = len(backbone.info.cameras) if backbone.info and backbone.info.cameras else 1
    cams = list(backbone.info.cameras) if backbone.info and backbone.info.cameras else ["front"]
    rng = np.random.default_rng(0)
    obs = [Observation(images={c: rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for c in cams[:n]},
                       joint_positions=np.zeros(7), instruction=t) for t in texts]
    pairs = [backbone.chat_for(o, "action") for o in obs]
    return backbone.encode([p[0].prompt for p in pairs], [p[1] for p in pairs], padding_side="left")


def backbone_parity(backbone, layer: int, runner, encodings: Sequence, threshold: float = COSINE_THRESHOLD,
                    name: str | None = None) -> ParityReport:
    """Hidden states of `runner` vs Backbone.features_from_inputs (torch), real tokens only
    (padding rows are masked out of the head's attention, so they are not compared).
    cosine over everything; min_cosine: the worst single token."""
    refs, outs, worst = [], [], 1.0
    for enc in encodings:
        with torch.no_grad():
            ref = backbone.features_from_inputs(enc, layer).hidden.float().cpu().numpy()
        got = np.asarray(runner.run(backbone_feeds(backbone, enc)), np.float64)
        keep = enc["attention_mask"].cpu().numpy().astype(bool)
        r, g = ref[keep].astype(np.float64), got[keep]
        worst = min(worst, *(cosine(a, b) for a, b in zip(r, g)))
        refs.append(r)
        outs.append(g)
    ref, got = np.concatenate(refs), np.concatenate(outs)
    diff = np.abs(ref - got)
    return ParityReport(backend=name or getattr(runner, "name", type(runner).__name__), graph="backbone_features",
                        samples=len(encodings), cosine=cosine(ref, got), min_cosine=float(worst),
                        max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()), threshold=threshold)
