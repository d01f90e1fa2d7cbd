"""torch -> ONNX for the stage-3 head (the backbone's feature graph: roboalign.export.backbone).

    export_head(head, "models/x/onnx", kind="sampler")  # (features, feature_mask, state, noise) -> actions
    export_head(head, "models/x/onnx", kind="step")     # (noisy_actions, t, features, feature_mask, state) -> velocity
    ensure_sampler_onnx(head, folder, num_steps)        # the graph serving will find, exported if missing

Graph names, shapes and the fingerprint are defined where serving reads them
(roboalign.policy.backends.graph): `sampler` is the whole `num_steps` Euler loop unrolled, what
the onnxruntime / tensorrt backends run; `step` is one denoiser call, for per-step timings. A
head with its own image encoder (HeadConfig.image_size > 0) takes one more input, images
[B, N, 3, S, S] f32 in [0, 1], last in both graphs.

Exporter: the TorchScript one by default (measured here: 2-5 s for the head, vs 45-80 s for
the dynamo exporter, with identical parity), or the dynamo exporter (torch.export; `dynamo=True`,
`--exporter dynamo`), which is the one future torch versions keep. Weights are embedded (one
self-contained .onnx file) unless they exceed protobuf's 2 GB, where a `.onnx.data` side file is
written that must ship with it.
The file's metadata records the head weights' hash and num_steps, so a stale export is detected.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from roboalign.policy.action_head import FlowMatchingHead, FlowSampler
from roboalign.policy.backends.graph import (
    FINGERPRINT_KEY,
    IMAGES_INPUT,
    SAMPLER_FILE,
    SAMPLER_INPUTS,
    SAMPLER_OUTPUTS,
    STEP_FILE,
    STEP_INPUTS,
    STEP_OUTPUTS,
    find_sampler_onnx,
    head_fingerprint,
    sampler_candidates,
)

KINDS = ("sampler", "step")
DEFAULT_OPSET = 18
_EMBED_LIMIT = 1_500_000_000  # bytes of weights above which the dynamo exporter writes .onnx.data


class ExportError(RuntimeError):
    """An export failed; the message says what was tried and what to do."""


def example_inputs(head: FlowMatchingHead, kind: str, batch: int = 2, tokens: int = 48,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the graph's shapes (also what parity checks feed)."""
    c = head.config
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, tokens, c.feature_dim, generator=g)
    mask = torch.ones(batch, tokens)
    mask[0, : tokens // 4] = 0.0  # left padding on the first row, as batched prompts have
    state = torch.rand(batch, c.state_dim, generator=g) * 2 - 1
    noise = torch.randn(batch, c.horizon, c.action_dim, generator=g)
    images = (torch.rand(batch, c.num_cameras, 3, c.image_size, c.image_size, generator=g),) if c.uses_images else ()
    if kind == "sampler":
        return (feats, mask, state, noise, *images)
    if kind == "step":
        return (noise, torch.rand(batch, generator=g), feats, mask, state, *images)
    raise ValueError(f"unknown graph kind {kind!r}: use one of {KINDS}")


def graph_module(head: FlowMatchingHead, kind: str, num_steps: int | None = None) -> torch.nn.Module:
    if kind == "sampler":
        return FlowSampler(head, num_steps).eval()
    if kind == "step":
        return head.eval()
    raise ValueError(f"unknown graph kind {kind!r}: use one of {KINDS}")


def graph_names(kind: str, head: FlowMatchingHead) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input names, output names) of a graph of `head`."""
    inputs, outputs = (SAMPLER_INPUTS, SAMPLER_OUTPUTS) if kind == "sampler" else (STEP_INPUTS, STEP_OUTPUTS)
    return (inputs + (IMAGES_INPUT,) if head.config.uses_images else inputs), outputs


def _dynamic(kind: str, dynamo: bool, head: FlowMatchingHead) -> dict[str, Any]:
    inputs, outputs = graph_names(kind, head)
    axes: dict[str, dict[int, str]] = {}
    for name in inputs + outputs:
        axes[name] = {0: "batch"}
        if name in ("features", "feature_mask"):
            axes[name][1] = "tokens"
    if not dynamo:
        return {"dynamic_axes": axes}
    batch, tokens = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("tokens", min=2, max=32768)
    shapes = {n: {k: (batch if v == "batch" else tokens) for k, v in axes[n].items()} for n in inputs}
    return {"dynamic_shapes": shapes}


def export_head(head: FlowMatchingHead, out_dir: str | Path, kind: str = "sampler", *, num_steps: int | None = None,
                dynamo: bool = False, opset: int = DEFAULT_OPSET, file_name: str | None = None) -> Path:
    """Write the `kind` graph of `head` to out_dir; returns the .onnx path."""
    import onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (file_name or (SAMPLER_FILE if kind == "sampler" else STEP_FILE))
    steps = int(num_steps or head.config.num_steps)
    module = graph_module(head.cpu().float(), kind, steps)
    args = example_inputs(head, kind)
    inputs, outputs = graph_names(kind, head)
    big = sum(p.numel() * 4 for p in head.parameters()) > _EMBED_LIMIT
    try:
        with torch.no_grad():
            if dynamo:
                prog = torch.onnx.export(module, args, None, input_names=list(inputs), output_names=list(outputs),
                                         opset_version=opset, dynamo=True, **_dynamic(kind, True, head))
                prog.save(str(path), external_data=big)
            else:
                with warnings.catch_warnings():  # "legacy exporter" notice: chosen on purpose (module docstring)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    torch.onnx.export(module, args, str(path), input_names=list(inputs), output_names=list(outputs),
                                      opset_version=opset, dynamo=False, **_dynamic(kind, False, head))
    except Exception as exc:
        raise ExportError(f"ONNX export of the head's {kind} graph failed with the "
                          f"{'dynamo' if dynamo else 'TorchScript'} exporter: {type(exc).__name__}: {exc}. "
                          f"Try the other exporter (--exporter {'torchscript' if dynamo else 'dynamo'}).") from exc
    model = onnx.load(str(path), load_external_data=False)
    meta = {"roboalign.graph": f"head_{kind}", "roboalign.num_steps": str(steps),
            FINGERPRINT_KEY: head_fingerprint(head, steps),
            "roboalign.exporter": "dynamo" if dynamo else "torchscript"}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    if big:
        model = onnx.load(str(path))
        for k, v in meta.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data")
    else:
        onnx.save(model, str(path))
    return path


def ensure_sampler_onnx(head: FlowMatchingHead, folder: str | Path | None, num_steps: int, log=None) -> Path:
    """The sampler graph serving finds for `head` and `num_steps` (the checkpoint's own when its
    fingerprint matches), else one exported now into the cache, where serving looks next."""
    found = find_sampler_onnx(head, folder, num_steps)
    if found is not None:
        return found
    cached = sampler_candidates(head, folder, num_steps)[-1]
    if log:
        log(f"exporting the head sampler ({num_steps} steps) to {cached}")
    return export_head(head, cached.parent, "sampler", num_steps=num_steps)
