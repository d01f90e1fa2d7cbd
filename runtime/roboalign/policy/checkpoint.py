"""What a RoboAlign backbone checkpoint folder holds, and its roboalign.json record.

A checkpoint written by `roboalign train sft` (and read by eval, stage 2 and stage 3) is one
folder that transformers' from_pretrained also understands:

    config.json, model*.safetensors, generation_config.json   the MLLM (transformers format)
    tokenizer.json, tokenizer_config.json, ...                 LLM tokenizer incl. FAST tokens
    preprocessor_config.json                                   image processor (PIL pipeline)
    fast_tokenizer/                                            FastTokenizer.save_pretrained
    action_norm_stats.json                                     NormStats of the action targets
    action_chunk_mean.npy                                      mean training chunk [H, D] in the
                                                               action frame (baseline for eval)
    action_chunk_mean_absolute.npy                             the same in absolute targets
    roboalign.json                                             CheckpointInfo below
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from roboalign.policy.integrity import record_fields

INFO_FILE = "roboalign.json"
FAST_DIR = "fast_tokenizer"
NORM_FILE = "action_norm_stats.json"
MEAN_CHUNK_FILE = "action_chunk_mean.npy"
MEAN_ABS_CHUNK_FILE = "action_chunk_mean_absolute.npy"
FORMAT = "roboalign-backbone"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """How a backbone checkpoint turns observations into prompts and tokens into actions.

    family:        "qwen2_5_vl" or "qwen3_vl".
    prompt_format: roboalign.policy.prompts.PromptFormat as a dict.
    cameras:       camera names in prompt order (the images of an Observation, by name).
    horizon, action_dim: chunk shape [H, D] the FAST tokens encode.
    dt:            seconds between actions of a chunk.
    action_frame:  "absolute" (targets as recorded) or "delta" (target minus the current joint
                   positions for every dimension except `absolute_dims`, e.g. the gripper).
    absolute_dims: dimensions kept absolute in the delta frame.
    feature_layer: default decoder block whose output stage 3 reads (1-based).
    stage:         "tiny-init", "sft", "align", ...; trained_from: the checkpoint it started from.
    """

    family: str
    prompt_format: dict[str, Any]
    cameras: tuple[str, ...] = ()
    horizon: int | None = None
    action_dim: int | None = None
    dt: float | None = None
    action_frame: str = "absolute"
    absolute_dims: tuple[int, ...] = ()
    feature_layer: int | None = None
    stage: str = ""
    trained_from: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "absolute_dims", tuple(int(d) for d in self.absolute_dims))
        if self.action_frame not in ("absolute", "delta"):
            raise ValueError(f"action_frame must be 'absolute' or 'delta', got {self.action_frame!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cameras"], d["absolute_dims"] = list(self.cameras), list(self.absolute_dims)
        return {"format": FORMAT, "version": VERSION, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointInfo:
        return cls(**record_fields(cls, data, FORMAT, VERSION, INFO_FILE))

    def save(self, folder: str | Path) -> None:
        Path(folder, INFO_FILE).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> CheckpointInfo | None:
        path = Path(folder, INFO_FILE)
        return cls.from_dict(json.loads(path.read_text())) if path.is_file() else None
