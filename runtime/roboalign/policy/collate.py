"""Chat examples -> model batches with the loss on the assistant's answer only.

The prompt (system + user turn with images + "<|im_start|>assistant\\n") goes through the
processor, which expands each <|image_pad|> to the image's vision tokens; the target (answer +
<|im_end|>) is tokenised on its own and appended. Tokenising the two parts separately is
deliberate: at inference the prompt is tokenised alone and the model continues it, so training
sees exactly the token boundary that generation will see.

labels = -100 on prompt and padding, the target ids elsewhere. Batches are right-padded.
"""
from __future__ import annotations

from typing import Any

import torch

from roboalign.policy.backbone import to_pil

IGNORE = -100


class ChatCollator:
    """Batch {images, prompt, target} dicts (see module docstring).

    max_length: examples longer than this (prompt + target tokens) raise a ValueError that says
    which, instead of silently truncating image tokens or the action span.
    """

    def __init__(self, processor, max_length: int | None = None):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token (Qwen: <|endoftext|>)")

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows, pixel_values, grids = [], [], []
        for ex in examples:
            images = [to_pil(im) for im in ex["images"]]
            p = self.processor(text=[ex["prompt"]], images=images or None, return_tensors="pt",
                               add_special_tokens=False)
            prompt_ids = p["input_ids"][0]
            target_ids = torch.tensor(self.tokenizer(ex["target"], add_special_tokens=False)["input_ids"],
                                      dtype=torch.long)
            ids = torch.cat([prompt_ids, target_ids])
            if self.max_length is not None and ids.numel() > self.max_length:
                raise ValueError(
                    f"example of {ids.numel()} tokens (prompt {prompt_ids.numel()}, target {target_ids.numel()}) "
                    f"exceeds max_length {self.max_length}: raise train.max_length or shrink the images"
                )
            labels = torch.cat([torch.full_like(prompt_ids, IGNORE), target_ids])
            mm = p.get("mm_token_type_ids")
            mm = torch.cat([mm[0], torch.zeros_like(target_ids)]) if mm is not None else None
            rows.append((ids, labels, mm))
            if "pixel_values" in p:
                pixel_values.append(p["pixel_values"])
                grids.append(p["image_grid_thw"])
        width = max(r[0].numel() for r in rows)
        n = len(rows)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        labels = torch.full((n, width), IGNORE, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        mm_types = torch.zeros((n, width), dtype=torch.long)
        for i, (ids, lab, mm) in enumerate(rows):
            k = ids.numel()
            input_ids[i, :k], labels[i, :k], attention[i, :k] = ids, lab, 1
            if mm is not None:
                mm_types[i, :k] = mm
        batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
        if any(r[2] is not None for r in rows):
            batch["mm_token_type_ids"] = mm_types
        if pixel_values:
            batch["pixel_values"] = torch.cat(pixel_values)
            batch["image_grid_thw"] = torch.cat(grids)
        return batch
