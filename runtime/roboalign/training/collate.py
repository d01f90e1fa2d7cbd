"""Training datasets of chat examples (the batching itself is roboalign.policy.collate.ChatCollator).

`ChatDataset` builds each example on access with a ChatBuilder; `as_hf_dataset` wraps it in the
`datasets.Dataset` type TRL requires.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from roboalign.policy.chat import ChatBuilder, ChatExample


class ChatDataset(torch.utils.data.Dataset):
    """Samples (robot / VQA) -> dicts {images, prompt, target, kind} for ChatCollator."""

    def __init__(self, samples: Sequence, builder: ChatBuilder):
        self.samples = samples
        self.builder = builder

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ex: ChatExample = self.builder(self.samples[i])
        return {"images": ex.images, "prompt": ex.prompt, "target": ex.target, "kind": ex.kind}

    def as_hf_dataset(self):
        """A `datasets.Dataset` of row indices whose rows are built on access (TRL requires the
        type). Nothing but the indices is stored; the "images" key in each row tells SFTTrainer
        that this is a vision dataset, so it leaves text preprocessing to our collator."""
        import datasets

        def build(batch):
            rows = [self[int(i)] for i in batch["index"]]
            return {k: [r[k] for r in rows] for k in ("images", "prompt", "target", "kind")}

        return datasets.Dataset.from_dict({"index": list(range(len(self)))}).with_transform(build)
