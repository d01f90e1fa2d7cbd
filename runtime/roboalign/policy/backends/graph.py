"""The head's exported graphs as serving finds them: names, fingerprint, where they live.

A graph or engine is built at build time by `roboalign export onnx | tensorrt` (roboalign.export)
and only looked up here, at serve time:

    <checkpoint>/onnx/head_sampler.onnx                      shipped with a checkpoint
    $ROBOALIGN_CACHE/onnx/<fingerprint>/head_sampler.onnx    exported for another step count or
                                                             a read-only checkpoint
    $ROBOALIGN_CACHE/tensorrt/<fingerprint>.<precision>.trt<version>.engine
                                                             TensorRT engines (GPU- and
                                                             version-specific: never shipped)

($ROBOALIGN_CACHE defaults to ~/.cache/roboalign.) The fingerprint hashes the head's config,
weights and Euler step count, and is stored in the ONNX file's metadata, so a stale graph is
never used. Graph inputs/outputs (B = batch, T = backbone tokens, both dynamic):

    sampler  features [B, T, C] f32, feature_mask [B, T] f32 (1 = token), state [B, Ds] f32
             (normalised), noise [B, H, Da] f32[, images [B, N, 3, S, S] f32 in [0, 1]]
             -> actions [B, H, Da] (normalised): the whole Euler loop unrolled
    step     noisy_actions [B, H, Da], t [B], features, feature_mask, state[, images]
             -> velocity [B, H, Da]: one denoiser call
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from roboalign.errors import CheckpointError

ONNX_DIR = "onnx"
SAMPLER_FILE = "head_sampler.onnx"
STEP_FILE = "head_step.onnx"
SAMPLER_INPUTS = ("features", "feature_mask", "state", "noise")
SAMPLER_OUTPUTS = ("actions",)
STEP_INPUTS = ("noisy_actions", "t", "features", "feature_mask", "state")
STEP_OUTPUTS = ("velocity",)
IMAGES_INPUT = "images"
FINGERPRINT_KEY = "roboalign.head_fingerprint"


def cache_root() -> Path:
    return Path(os.environ.get("ROBOALIGN_CACHE") or Path.home() / ".cache" / "roboalign")


def head_fingerprint(head, num_steps: int) -> str:
    """Hash of the head's weights and config + num_steps (stored in the ONNX metadata)."""
    h = hashlib.sha256(repr(sorted(head.config.to_dict().items())).encode())
    h.update(str(int(num_steps)).encode())
    for name, t in sorted(head.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def read_metadata(path: str | Path) -> dict[str, str]:
    """The roboalign.* metadata of an ONNX file; CheckpointError naming the file when it is damaged."""
    try:
        import onnx
    except ImportError:
        raise CheckpointError(path, "reading ONNX graphs needs the `onnx` package: pip install "
                                    "'roboalign[export]'") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise CheckpointError(path, f"not a readable ONNX graph, damaged or truncated ({type(exc).__name__}); "
                                    "export it again with `roboalign export onnx`") from None
    return {p.key: p.value for p in model.metadata_props}


def sampler_candidates(head, folder: str | Path | None, num_steps: int) -> list[Path]:
    """Where a sampler graph of `head` with `num_steps` may be: the checkpoint's, then the cache's."""
    cached = cache_root() / ONNX_DIR / head_fingerprint(head, num_steps) / SAMPLER_FILE
    return ([Path(folder) / ONNX_DIR / SAMPLER_FILE] if folder is not None else []) + [cached]


def find_sampler_onnx(head, folder: str | Path | None, num_steps: int) -> Path | None:
    """The first existing sampler graph whose fingerprint matches `head` and `num_steps`, else None."""
    fp = head_fingerprint(head, num_steps)
    for path in sampler_candidates(head, folder, num_steps):
        if path.is_file() and read_metadata(path).get(FINGERPRINT_KEY) == fp:
            return path
    return None


def require_sampler_onnx(head, folder: str | Path | None, num_steps: int) -> Path:
    """find_sampler_onnx, or CheckpointError saying which command builds the graph."""
    path = find_sampler_onnx(head, folder, num_steps)
    if path is not None:
        return path
    where = sampler_candidates(head, folder, num_steps)[0]
    build = (f"roboalign export onnx --policy {folder} --num-steps {num_steps}" if folder is not None
             else f"roboalign.export.onnx.ensure_sampler_onnx(head, None, {num_steps})")
    raise CheckpointError(where, f"no ONNX graph of this head with {num_steps} Euler steps here or in "
                           f"{cache_root() / ONNX_DIR}; build it with `{build}`")


def engine_path(head, num_steps: int, precision: str, tensorrt_version: str) -> Path:
    """Where the TensorRT engine of `head` (steps, precision, TensorRT version) is cached."""
    fp = head_fingerprint(head, num_steps)
    return cache_root() / "tensorrt" / f"{fp}.{precision}.trt{tensorrt_version}.engine"
