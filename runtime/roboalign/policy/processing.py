"""Image+text processors for Qwen2.5-VL / Qwen3-VL that work without torchvision.

Why this exists (../shared/ENVIRONMENT.md, measured with transformers 5.23):
- torchvision beside a CPU torch build fails to import, so the default "fast" image processor
  is unavailable; the PIL one (Qwen2VLImageProcessorPil) does the same resize/normalise/patchify.
- Qwen2_5_VLProcessor / Qwen3VLProcessor check their video_processor slot against a registry
  that does not exist without torchvision, even when None is passed. The subclasses below drop
  that slot from __init__'s signature, which is how ProcessorMixin decides its attributes.
- AutoProcessor.from_pretrained on such a folder returns only the tokenizer, so `load_processor`
  rebuilds the processor from its parts (tokenizer files + preprocessor_config.json).

Both families share the Qwen2-VL image pipeline; they differ in patch size (14 vs 16) and
normalisation constants, which come from the checkpoint's preprocessor_config.json.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, Qwen2_5_VLProcessor, Qwen3VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

FAMILIES = ("qwen2_5_vl", "qwen3_vl")
PREPROCESSOR_FILE = "preprocessor_config.json"
PROCESSOR_FILE = "processor_config.json"


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """Qwen2_5_VLProcessor without the video slot (see module docstring)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template)


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """Qwen3VLProcessor without the video slot (see module docstring)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template)


_PROCESSOR_CLASSES = {"qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor, "qwen3_vl": ImageOnlyQwen3VLProcessor}


def family_of(model_type: str) -> str:
    """Map a config.model_type onto a supported family, or say what is supported."""
    if model_type in ("qwen2_5_vl", "qwen2_5_vl_text"):
        return "qwen2_5_vl"
    if model_type in ("qwen3_vl", "qwen3_vl_text"):
        return "qwen3_vl"
    raise ValueError(f"unsupported model_type {model_type!r}: RoboAlign backbones are {', '.join(FAMILIES)}")


def build_processor(family: str, image_processor: Qwen2VLImageProcessorPil, tokenizer: Any):
    if family not in _PROCESSOR_CLASSES:
        raise ValueError(f"unknown backbone family {family!r}; expected one of {FAMILIES}")
    if tokenizer.pad_token is None:
        # Batched generation pads on the left; Qwen checkpoints ship <|endoftext|> as pad.
        tokenizer.pad_token = "<|endoftext|>"
    return _PROCESSOR_CLASSES[family](image_processor=image_processor, tokenizer=tokenizer)


def _image_processor_dict(path: Path) -> dict[str, Any]:
    if (path / PREPROCESSOR_FILE).is_file():
        return json.loads((path / PREPROCESSOR_FILE).read_text())
    if (path / PROCESSOR_FILE).is_file():
        data = json.loads((path / PROCESSOR_FILE).read_text())
        if isinstance(data.get("image_processor"), dict):
            return data["image_processor"]
    raise FileNotFoundError(
        f"{path} has no {PREPROCESSOR_FILE} (nor an image_processor entry in {PROCESSOR_FILE}); "
        "a Qwen-VL checkpoint folder ships one next to config.json"
    )


def image_processor_from_dict(data: dict[str, Any]) -> Qwen2VLImageProcessorPil:
    kwargs = {k: v for k, v in data.items() if k not in ("image_processor_type", "processor_class", "auto_map")}
    # Older checkpoints carry min_pixels/max_pixels beside size; size wins (it is what 5.x reads).
    if "size" in kwargs:
        kwargs.pop("min_pixels", None)
        kwargs.pop("max_pixels", None)
    return Qwen2VLImageProcessorPil(**kwargs)


def load_processor(path: str | Path, family: str, *, local_files_only: bool = True):
    """Rebuild the processor of a checkpoint folder (or a hub id already in the HF cache)."""
    path = Path(path)
    if not path.is_dir():
        path = _cached_snapshot(str(path), local_files_only)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
    image_processor = image_processor_from_dict(_image_processor_dict(path))
    return build_processor(family, image_processor, tokenizer)


def save_processor(processor, path: str | Path) -> None:
    """Write tokenizer files and preprocessor_config.json (what load_processor reads)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    processor.tokenizer.save_pretrained(path)
    processor.image_processor.save_pretrained(path)


def _cached_snapshot(repo_id: str, local_files_only: bool) -> Path:
    """Folder of a hub model already in the local HF cache (never downloads when offline)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=local_files_only))
    except Exception as exc:
        raise FileNotFoundError(
            f"{repo_id!r} is neither a folder nor a model in the local Hugging Face cache "
            f"({type(exc).__name__}: {exc}). Download it on a machine with network access "
            "(`huggingface-cli download <id>`) or pass the checkpoint folder."
        ) from None
