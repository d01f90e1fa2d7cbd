"""A stage-1/2 backbone served as a Policy: generate FAST tokens, decode, return absolute targets.

    policy = FastTokenPolicy.from_pretrained("outputs/stage1_tiny")
    chunk = policy.infer(obs)        # ActionChunk of absolute joint targets

Decoding is constrained by default (policy/constrained.py: the span always spells H x D
symbols). A malformed generation never becomes motion: `predict` returns the decode result
(valid flag and reason) and `infer` raises InvalidActionError, which a server turns into an
error reply while the controller side keeps holding its last safe command.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roboalign.core import ActionChunk, Observation, PolicyMetadata
from roboalign.errors import CheckpointError
from roboalign.policy import actions as action_frames
from roboalign.policy import checkpoint as ckpt
from roboalign.policy.integrity import read_json


class InvalidActionError(ValueError):
    """The model's output did not decode to a valid chunk (the message says why)."""


@dataclasses.dataclass
class Prediction:
    """One observation's output: generated text, decode result and absolute targets [H, D]
    (best effort when invalid: never execute those)."""

    text: str
    valid: bool
    reason: str
    code: str  # "ok" or the decode problem (too_short, too_long, out_of_range, bad_span, ...)
    actions: np.ndarray  # absolute targets
    frame_actions: np.ndarray  # in the checkpoint's action frame
    normalized: np.ndarray
    fast_ids: list[int]


class FastTokenPolicy:
    """Policy protocol over a Backbone + ActionTokenBridge + CheckpointInfo."""

    def __init__(self, backbone, bridge, info: ckpt.CheckpointInfo, max_new_tokens: int | None = None,
                 model_id: str = "", constrained: bool = True):
        if info.horizon is None or info.action_dim is None:
            raise ValueError("checkpoint info lacks horizon/action_dim: was it trained on robot data?")
        self.backbone, self.bridge, self.info = backbone, bridge, info
        self.model_id = model_id
        # Constrained decoding (policy/constrained.py) guarantees a decodable span shape.
        self.constrained = constrained
        # A span never needs more than H*D FAST tokens (one symbol each at worst) + 2 markers + eos.
        self.max_new_tokens = max_new_tokens or info.horizon * info.action_dim + 4

    @property
    def dt(self) -> float:
        """Seconds between a chunk's actions (0.1 s for checkpoints that did not record it)."""
        return float(self.info.dt or 0.1)

    @classmethod
    def from_pretrained(cls, path: str | Path, **load_kwargs) -> FastTokenPolicy:
        from roboalign.policy.backbone import Backbone
        from roboalign.tokenizer.bridge import ActionTokenBridge

        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(path, "no such checkpoint folder")
        if not (path / ckpt.INFO_FILE).is_file():
            raise CheckpointError(path / ckpt.INFO_FILE, "missing: not a RoboAlign backbone checkpoint (write one "
                                                         "with `roboalign train sft`)")
        try:
            info = ckpt.CheckpointInfo.from_dict(read_json(path / ckpt.INFO_FILE))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(path / ckpt.INFO_FILE, str(exc)) from None
        backbone = Backbone.from_pretrained(path, **load_kwargs)
        bridge = ActionTokenBridge.from_pretrained(path / ckpt.FAST_DIR, tokenizer=backbone.tokenizer)
        return cls(backbone, bridge, info, model_id=path.name)

    def predict(self, observations: Sequence[Observation], constrained: bool | None = None,
                **gen_kwargs) -> list[Prediction]:
        """Generate and decode; constrained=None uses the policy's setting."""
        gen_kwargs.setdefault("max_new_tokens", self.max_new_tokens)
        if self.constrained if constrained is None else constrained:
            from roboalign.policy.constrained import ActionSpanConstraint

            eos = self.backbone.tokenizer.convert_tokens_to_ids("<|im_end|>")
            n = self.info.horizon * self.info.action_dim
            gen_kwargs["make_logits_processors"] = lambda length: [ActionSpanConstraint(self.bridge, n, length, eos)]
        gen = self.backbone.generate_chats(*self._chats(observations), **gen_kwargs)
        out = []
        for obs, text, ids in zip(observations, gen.texts, gen.token_ids):
            span = self.bridge.extract_from_ids(ids, self.backbone.tokenizer)
            res = self.bridge.decode_span(span, self.info.horizon, self.info.action_dim)
            absolute = action_frames.from_frame(res.actions, obs.joint_positions, self.info.action_frame,
                                                self.info.absolute_dims)
            out.append(Prediction(text, bool(res.valid), res.reason, res.code, absolute, res.actions,
                                  res.normalized, list(span.fast_ids)))
        return out

    def _chats(self, observations):
        pairs = [self.backbone.chat_for(o, "action") for o in observations]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    # ---------------------------------------------------------------- Policy protocol
    def infer(self, observation: Observation) -> ActionChunk:
        pred = self.predict([observation])[0]
        if not pred.valid:
            raise InvalidActionError(f"model output is not a valid action chunk: {pred.reason}")
        return ActionChunk(actions=pred.actions, start_time=observation.timestamp, dt=self.dt,
                           provenance=self.model_id or "fast-token-policy", observation_time=observation.timestamp)

    def metadata(self) -> PolicyMetadata:
        norm = self.bridge.fast.normalizer
        return PolicyMetadata(policy="fast-token", model_id=self.model_id, robot=self.info.extra.get("robot"),
                              cameras=self.info.cameras, chunk_length=self.info.horizon,
                              action_dim=self.info.action_dim, control_period=self.dt,
                              norm_stats_hash=norm.digest() if norm is not None else None,
                              action_frame=self.info.action_frame, backbone_family=self.info.family)

    def reset(self) -> None:
        """Stateless between calls."""


def load_checkpoint(folder: str | Path, **kwargs) -> FastTokenPolicy:
    """Registry entry point for the "fast-token" kind (a stage-1 or stage-2 checkpoint folder)."""
    return FastTokenPolicy.from_pretrained(folder, **kwargs)
