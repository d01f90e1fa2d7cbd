"""The MLLM backbone: a Qwen2.5-VL or Qwen3-VL model with its processor and prompt format.

    bb = Backbone.from_pretrained("Qwen/Qwen2.5-VL-7B-Instruct", dtype="bfloat16", device="cuda")
    text = bb.generate([obs])[0]                 # "<ACTION_START><act_5>...<ACTION_END>"
    feats = bb.features([obs], layer=18)         # hidden [B, T, 3584] + attention mask

Loading is offline: a checkpoint folder, or a hub id already in the local HF cache
(local_files_only=True unless asked otherwise). The processor is rebuilt from its parts because
torchvision is not available here (roboalign.policy.processing).

Layer numbering: `layer=k` is the output of decoder block k (1-based), i.e. transformers'
hidden_states[k]; layer 0 is the input embeddings (text + merged image features). Negative k
counts from the end (-1 = last block, before the final norm). `features` stops the forward
pass after block k, so reading layer 18 of 28 costs ~18/28 of a full pass.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from roboalign.core import Observation
from roboalign.policy import prompts
from roboalign.policy.checkpoint import CheckpointInfo
from roboalign.policy.integrity import verify_files
from roboalign.policy.processing import family_of, load_processor, save_processor


@dataclasses.dataclass
class Features:
    """Hidden states of one layer. hidden [B, T, C]; attention_mask [B, T] (1 = token, 0 = pad,
    left padded); layer: the block they come from (non-negative)."""

    hidden: torch.Tensor
    attention_mask: torch.Tensor
    layer: int


@dataclasses.dataclass
class Generation:
    """Generated continuations: text (special tokens kept, cut at <|im_end|>) and new token ids."""

    texts: list[str]
    token_ids: list[list[int]]


class _StopForward(Exception):
    """Raised by the feature hook once the wanted layer ran, to skip the rest of the model."""


def model_class(family: str):
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration
    if family == "qwen3_vl":
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration
    raise ValueError(f"unknown backbone family {family!r}")


def to_pil(image: Any):
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, Path)):
        with Image.open(image) as im:
            return im.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"images must be uint8 [H, W, 3] (RGB), got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr)


class Backbone:
    """model + processor + PromptFormat; everything that turns observations into model inputs."""

    def __init__(
        self,
        model,
        processor,
        family: str,
        prompt_format: prompts.PromptFormat = prompts.DEFAULT_FORMAT,
        info: CheckpointInfo | None = None,
    ):
        self.model = model
        self.processor = processor
        self.family = family
        self.prompt_format = prompt_format
        self.info = info

    # ---------------------------------------------------------------- loading and saving
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        dtype: str | torch.dtype = "auto",
        device: str | torch.device | None = None,
        device_map: str | dict | None = None,
        local_files_only: bool = True,
        attn_implementation: str | None = None,
    ) -> Backbone:
        """Load a checkpoint folder, or a hub id from the local HF cache (never downloads by default)."""
        from transformers import AutoConfig

        folder = Path(path)
        source = str(folder) if folder.is_dir() else str(path)
        if folder.is_dir() and not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder} has no config.json: pass a checkpoint folder (config.json, weights, tokenizer, "
                "preprocessor_config.json) such as one written by `roboalign train sft`"
            )
        if folder.is_dir():
            verify_files(folder)  # a truncated weights or JSON file: CheckpointError naming it
        try:
            config = AutoConfig.from_pretrained(source, local_files_only=local_files_only)
        except OSError as exc:
            raise FileNotFoundError(
                f"cannot load a backbone from {path!r}: {exc}. Pass a checkpoint folder (config.json, "
                "weights, tokenizer, preprocessor_config.json) or a hub id present in the HF cache."
            ) from None
        family = family_of(config.model_type)
        if isinstance(dtype, str) and dtype not in ("auto",):
            dtype = getattr(torch, dtype)
        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": local_files_only}
        if device_map is not None:
            kwargs["device_map"] = device_map
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        model = model_class(family).from_pretrained(source, **kwargs)
        if device is not None and device_map is None:
            model = model.to(device)
        model.eval()
        processor = load_processor(source, family, local_files_only=local_files_only)
        info = CheckpointInfo.load(folder) if folder.is_dir() else None
        fmt = prompts.PromptFormat.from_dict(info.prompt_format) if info else _default_format(family)
        return cls(model, processor, family=family, prompt_format=fmt, info=info)

    def save_pretrained(self, path: str | Path, info: CheckpointInfo | None = None) -> None:
        """model (safetensors) + tokenizer + preprocessor_config.json + roboalign.json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        save_processor(self.processor, path)
        info = info or self.info or CheckpointInfo(family=self.family, prompt_format=self.prompt_format.to_dict())
        self.info = info
        info.save(path)

    # ---------------------------------------------------------------- shapes
    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def text_config(self):
        return self.model.config.get_text_config()

    @property
    def num_layers(self) -> int:
        return int(self.text_config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def decoder_layers(self):
        return self.model.model.language_model.layers

    @property
    def vision_tower(self):
        return self.model.model.visual

    def resolve_layer(self, layer: int) -> int:
        """Non-negative block index for `layer` (see module docstring), or a readable error."""
        n = self.num_layers
        k = n + 1 + layer if layer < 0 else layer
        if not 0 <= k <= n:
            raise ValueError(f"layer {layer} is out of range for a {n}-layer backbone (use 0..{n} or -1..-{n + 1})")
        return k

    # ---------------------------------------------------------------- prompts
    def cameras_for(self, obs: Observation) -> list[str]:
        """Camera names in prompt order: the checkpoint's list when it has one, else the obs order."""
        if self.info and self.info.cameras:
            missing = [c for c in self.info.cameras if c not in obs.images]
            if missing:
                raise ValueError(
                    f"observation lacks camera(s) {missing}; this checkpoint was trained on {list(self.info.cameras)}"
                )
            return list(self.info.cameras)
        return list(obs.images)

    def chat_for(self, obs: Observation, kind: str = "action") -> tuple[prompts.Chat, list]:
        """Generation prompt for one observation and its images (PIL) in prompt order."""
        cams = self.cameras_for(obs)
        images = [to_pil(obs.images[c]) for c in cams]
        if kind == "action":
            user = prompts.action_user_text(obs.instruction, obs.joint_positions, self.prompt_format)
        elif kind == "reasoning":
            user = prompts.reasoning_user_text(obs.instruction, obs.joint_positions, self.prompt_format)
        else:
            raise ValueError(f"unknown prompt kind {kind!r}: use 'action' or 'reasoning'")
        return prompts.render(user, cams, None, self.prompt_format), images

    def encode(self, texts: Sequence[str], images: Sequence[Sequence[Any]], padding_side: str = "left"):
        """Tokenise texts with their images (one list per text) into model inputs on the model's device."""
        flat = [to_pil(im) for ims in images for im in ims]
        enc = self.processor(
            text=list(texts),
            images=flat or None,
            padding=True,
            padding_side=padding_side,
            return_tensors="pt",
            add_special_tokens=False,
        )
        return enc.to(self.device)

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def generate_chats(
        self,
        chats: Sequence[prompts.Chat],
        images: Sequence[Sequence[Any]],
        *,
        max_new_tokens: int = 128,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float | None = None,
        make_logits_processors=None,
    ) -> Generation:
        """Continue each chat's prompt. make_logits_processors(prompt_length) -> list of
        transformers logits processors (e.g. policy.constrained.ActionSpanConstraint)."""
        enc = self.encode([c.prompt for c in chats], images, padding_side="left")
        tok = self.tokenizer
        eos = tok.convert_tokens_to_ids(prompts.IM_END)
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new_tokens, do_sample=do_sample, eos_token_id=eos, pad_token_id=tok.pad_token_id
        )
        if make_logits_processors is not None:
            from transformers import LogitsProcessorList

            gen_kwargs["logits_processor"] = LogitsProcessorList(make_logits_processors(enc["input_ids"].shape[1]))
        if do_sample:
            gen_kwargs["temperature"] = temperature
            if top_p is not None:
                gen_kwargs["top_p"] = top_p
        out = self.model.generate(**enc, **gen_kwargs)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        ids = [_cut_at(seq, eos, tok.pad_token_id) for seq in new]
        texts = [tok.decode(seq, skip_special_tokens=False) for seq in ids]
        return Generation(texts=texts, token_ids=ids)

    def generate(self, observations: Sequence[Observation], kind: str = "action", **kwargs) -> list[str]:
        """Generated text per observation (action tokens as LLM token text)."""
        pairs = [self.chat_for(o, kind) for o in observations]
        return self.generate_chats([p[0] for p in pairs], [p[1] for p in pairs], **kwargs).texts

    @torch.no_grad()
    def features(self, observations: Sequence[Observation], layer: int, kind: str = "action") -> Features:
        """Hidden states of `layer` for the generation prompts of `observations` (left padded)."""
        pairs = [self.chat_for(o, kind) for o in observations]
        enc = self.encode([p[0].prompt for p in pairs], [p[1] for p in pairs], padding_side="left")
        return self.features_from_inputs(enc, layer)

    def features_from_inputs(self, inputs, layer: int) -> Features:
        """Hidden states of `layer` for already-encoded inputs; grads flow if enabled by the caller."""
        k = self.resolve_layer(layer)
        mask = inputs.get("attention_mask")
        if mask is None or mask.ndim != 2:  # absent, or a prepared 4-D mask (meta-device checks)
            ids = inputs["input_ids"]
            mask = torch.ones(ids.shape, dtype=torch.long, device=ids.device)
        if k == 0:
            out = self.model(**inputs, output_hidden_states=True, use_cache=False)
            return Features(out.hidden_states[0], mask, 0)
        captured: dict[str, torch.Tensor] = {}

        def hook(_module, _args, output):
            captured["h"] = output[0] if isinstance(output, tuple) else output
            raise _StopForward

        handle = self.decoder_layers[k - 1].register_forward_hook(hook)
        try:
            self.model(**inputs, use_cache=False)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if "h" not in captured:
            raise RuntimeError(f"layer {k} did not run during the forward pass")
        return Features(captured["h"], mask, k)

    # ---------------------------------------------------------------- training helpers
    def freeze_vision(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the vision encoder incl. its merger, as RoboAlign's SFT does."""
        for p in self.vision_tower.parameters():
            p.requires_grad_(not frozen)


def _cut_at(seq: list[int], eos: int, pad: int | None) -> list[int]:
    out = []
    for t in seq:
        if t == eos:
            break
        if pad is not None and t == pad:
            continue
        out.append(t)
    return out


def _default_format(family: str) -> prompts.PromptFormat:
    """Qwen3-VL's chat template has no default system turn; Qwen2.5-VL's does."""
    if family == "qwen3_vl":
        return dataclasses.replace(prompts.DEFAULT_FORMAT, system=None)
    return prompts.DEFAULT_FORMAT
