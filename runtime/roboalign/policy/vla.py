"""The stage-3 VLA: frozen MLLM backbone -> flow-matching action head -> absolute joint targets.

    policy = VLAPolicy.from_pretrained("models/roboalign-sim-touch-tiny")            # torch
    policy = VLAPolicy.from_pretrained(path, backend="onnxruntime")                   # or "tensorrt"
    chunk = policy.infer(obs)              # ActionChunk [H, D], dt from the checkpoint
    policy.last_timings_ms                 # {"preprocess", "backbone", "head", "head_per_step", "total"}

Per call: the backbone reads the observation's prompt (camera images, instruction, state as
text) and stops after block `feature_layer`; the head cross-attends to those hidden states and
a projected state token and integrates `num_steps` Euler steps from Gaussian noise; the result
is un-normalised (NormStats fitted on the training chunks) and turned from the action frame
(delta: target minus the current joints, gripper absolute) into absolute targets.

Checkpoint folder (`roboalign serve --policy DIR`, `roboalign rollout --sim --policy DIR`):

    roboalign_policy.yaml      kind: vla (the registry's entry point)
    vla.json                   VLAInfo below
    backbone/                  the frozen MLLM (Backbone.save_pretrained; may be cut after feature_layer)
    head/                      config.json + model.safetensors (FlowMatchingHead)
    action_norm_stats.json     NormStats of the head's targets, in the action frame
    state_norm_stats.json      NormStats of the proprioceptive input
    onnx/head_sampler.onnx     optional: the sampler graph for the onnxruntime / tensorrt backends
    onnx/backbone_features.onnx  optional: the backbone's feature graph for the same (docs/export.md)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from roboalign.core import ActionChunk, NormStats, Observation, PolicyMetadata
from roboalign.errors import CheckpointError
from roboalign.policy import actions as action_frames
from roboalign.policy.action_head import FlowMatchingHead
from roboalign.policy.backends import check_backend, make_head_runner
from roboalign.policy.backends.backbone_graph import backbone_feeds, make_backbone_runner
from roboalign.policy.head_image import prepare_images
from roboalign.policy.integrity import read_json, record_fields, verify_files

INFO_FILE = "vla.json"
BACKBONE_DIR = "backbone"
HEAD_DIR = "head"
ACTION_STATS_FILE = "action_norm_stats.json"
STATE_STATS_FILE = "state_norm_stats.json"
FORMAT = "roboalign-vla"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class VLAInfo:
    """What turns observations into head inputs and head outputs into an ActionChunk.

    cameras: image names in prompt order. horizon, action_dim: chunk [H, D]; dt: seconds between
    actions. action_frame / absolute_dims: see roboalign.policy.actions. feature_layer: backbone
    block whose output the head reads (1-based). image_size: (height, width) the server's
    warm-up feeds. robot: RobotSpec dict or None. model_id: name reported in metadata.
    """

    cameras: tuple[str, ...]
    horizon: int
    action_dim: int
    dt: float
    feature_layer: int
    action_frame: str = "delta"
    absolute_dims: tuple[int, ...] = ()
    image_size: tuple[int, int] = (128, 128)
    robot: dict[str, Any] | None = None
    model_id: str = ""
    trained_from: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "absolute_dims", tuple(int(d) for d in self.absolute_dims))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        if self.action_frame not in action_frames.FRAMES:
            raise ValueError(f"VLAInfo.action_frame must be one of {action_frames.FRAMES}, got {self.action_frame!r}")
        if not self.dt > 0:
            raise ValueError("VLAInfo.dt must be a positive number of seconds")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(cameras=list(self.cameras), absolute_dims=list(self.absolute_dims), image_size=list(self.image_size))
        return {"format": FORMAT, "version": VERSION, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VLAInfo:
        return cls(**record_fields(cls, data, FORMAT, VERSION, INFO_FILE))


def norm_stats_hash(action_stats: NormStats, state_stats: NormStats) -> str:
    """One short hash of both statistics (what `metadata()["norm_stats_hash"]` reports)."""
    blob = f"{action_stats.digest()}:{state_stats.digest()}".encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class VLAPolicy:
    """Policy protocol over Backbone + FlowMatchingHead + normalisation (see module docstring).

    backend: "torch" runs the head in torch; "onnxruntime" / "tensorrt" run the exported
    sampler graph built by `roboalign export onnx | tensorrt` (roboalign.policy.backends).
    backbone_backend: the same for the backbone's feature graph (default: `backend`; "torch"
    keeps the backbone in torch beside an exported head). The processor (prompt, patches) and
    the index computation the graph takes as inputs always run in Python.
    num_steps: Euler steps (default: the head's, 4). noise_scale: std of the initial noise
    (1 = the trained distribution; 0 = deterministic). seed: noise generator seed, re-applied
    on reset() so an episode's noise is reproducible.
    """

    def __init__(self, backbone, head: FlowMatchingHead, info: VLAInfo, action_stats: NormStats,
                 state_stats: NormStats, *, backend: str = "torch", runner=None, num_steps: int | None = None,
                 noise_scale: float = 1.0, seed: int = 0, folder: Path | None = None,
                 backbone_backend: str | None = None, backbone_runner=None):
        check_backend(backend)
        backbone_backend = backbone_backend or backend
        check_backend(backbone_backend)
        if action_stats.dim != info.action_dim or head.config.action_dim != info.action_dim:
            raise ValueError(f"action dims disagree: info {info.action_dim}, stats {action_stats.dim}, "
                             f"head {head.config.action_dim}")
        if head.config.horizon != info.horizon:
            raise ValueError(f"head horizon {head.config.horizon} differs from the checkpoint's {info.horizon}")
        self.backbone, self.head, self.info = backbone, head.eval(), info
        self.action_stats, self.state_stats = action_stats, state_stats
        self.backend, self.folder = backend, folder
        self.num_steps = int(num_steps or head.config.num_steps)
        self.noise_scale, self.seed = float(noise_scale), int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._runner = runner
        if backend != "torch" and runner is None:
            # onnxruntime gets torch's thread count: the bundled CPU demo asks for 1 (beside the sim)
            self._runner = make_head_runner(backend, head, folder, num_steps=self.num_steps,
                                            threads=torch.get_num_threads())
        self.backbone_backend = backbone_backend
        self._backbone_runner = backbone_runner
        if backbone_backend != "torch" and backbone_runner is None:
            self._backbone_runner = make_backbone_runner(backbone_backend, backbone, info.feature_layer, folder,
                                                         threads=torch.get_num_threads())
        self.last_timings_ms: dict[str, float] = {}

    # ---------------------------------------------------------------- loading and saving
    @classmethod
    def from_pretrained(cls, folder: str | Path, *, backend: str = "torch", device: str | None = None,
                        num_steps: int | None = None, noise_scale: float = 1.0, seed: int = 0,
                        torch_threads: int | None = None, backbone_backend: str | None = None) -> VLAPolicy:
        """Load a checkpoint folder. torch_threads: set torch's intra-op threads for this process
        (the bundled CPU demo asks for 1: beside the sim on a 2-core machine, 2 threads
        oversubscribe and calls take up to 10x longer)."""
        from roboalign.policy.backbone import Backbone

        check_backend(backend)  # a missing TensorRT says so before the weights load
        check_backend(backbone_backend or backend)
        if torch_threads:
            torch.set_num_threads(int(torch_threads))
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(folder, "no such checkpoint folder")
        if not (folder / INFO_FILE).is_file():
            raise CheckpointError(folder / INFO_FILE, "missing: not a VLA checkpoint folder (write one with "
                                                      "`roboalign train head`)")
        verify_files(folder)  # every weight and JSON file, before any weights load (cheap: headers only)
        try:
            info = VLAInfo.from_dict(read_json(folder / INFO_FILE))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(folder / INFO_FILE, str(exc)) from None
        device = device or "cpu"
        backbone = Backbone.from_pretrained(folder / BACKBONE_DIR, dtype="float32", device=device)
        head = FlowMatchingHead.from_pretrained(folder / HEAD_DIR, device=device)
        return cls(backbone, head, info, NormStats.load(folder / ACTION_STATS_FILE),
                   NormStats.load(folder / STATE_STATS_FILE), backend=backend, num_steps=num_steps,
                   noise_scale=noise_scale, seed=seed, folder=folder, backbone_backend=backbone_backend)

    def save_pretrained(self, folder: str | Path, policy_args: dict[str, Any] | None = None) -> Path:
        """Write the checkpoint folder; policy_args become the defaults the registry passes to
        load_checkpoint (roboalign_policy.yaml `args`, e.g. {"torch_threads": 1})."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(folder / BACKBONE_DIR)
        self.head.save_pretrained(folder / HEAD_DIR)
        self.action_stats.save(folder / ACTION_STATS_FILE)
        self.state_stats.save(folder / STATE_STATS_FILE)
        (folder / INFO_FILE).write_text(json.dumps(self.info.to_dict(), indent=2))
        (folder / "roboalign_policy.yaml").write_text(yaml.safe_dump({"kind": "vla", "args": dict(policy_args or {})},
                                                                         sort_keys=False))
        self.folder = folder
        return folder

    # ---------------------------------------------------------------- inference
    def encode(self, observations: Sequence[Observation]):
        """Processor output (token ids, pixel values, masks) for the observations' prompts."""
        pairs = [self.backbone.chat_for(o, "action") for o in observations]
        return self.backbone.encode([p[0].prompt for p in pairs], [p[1] for p in pairs], padding_side="left")

    @torch.no_grad()
    def features(self, observations: Sequence[Observation]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, T, C] float32, mask [B, T]) of the feature layer."""
        return self._features(self.encode(observations))

    def _features(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, T, C] f32, mask [B, T] f32) from the torch backbone or its exported graph."""
        if self._backbone_runner is None:
            feats = self.backbone.features_from_inputs(inputs, self.info.feature_layer)
            return feats.hidden.float(), feats.attention_mask.float()
        hidden = self._backbone_runner.run(backbone_feeds(self.backbone, inputs))
        return torch.from_numpy(np.asarray(hidden, np.float32)), inputs["attention_mask"].float().cpu()

    def normalized_state(self, observations: Sequence[Observation]) -> np.ndarray:
        states = np.stack([self._check(o) for o in observations])
        return self.state_stats.normalize(states).astype(np.float32)

    def _check(self, obs: Observation) -> np.ndarray:
        q = obs.joint_positions
        if q.shape[0] != self.info.action_dim:
            raise ValueError(f"this VLA expects {self.info.action_dim} joint positions, got {q.shape[0]}")
        if not np.all(np.isfinite(q)):
            raise ValueError("observation joint positions are not finite")
        return q

    def head_images(self, observations: Sequence[Observation]) -> np.ndarray | None:
        """[B, N, 3, S, S] float32 for a head with its own image encoder, else None."""
        size = self.head.config.image_size
        if size <= 0:
            return None
        return np.stack([prepare_images([o.images[c] for c in self._cameras(o)], size) for o in observations])

    def _cameras(self, obs: Observation) -> tuple[str, ...]:
        missing = [c for c in self.info.cameras if c not in obs.images]
        if missing:
            raise ValueError(f"observation lacks camera(s) {missing}; this policy reads {list(self.info.cameras)}")
        return self.info.cameras

    def draw_noise(self, batch: int) -> np.ndarray:
        shape = (batch, self.info.horizon, self.info.action_dim)
        return (self.noise_scale * self._rng.standard_normal(shape)).astype(np.float32)

    @torch.no_grad()
    def predict(self, observations: Sequence[Observation], noise: np.ndarray | None = None) -> np.ndarray:
        """Absolute targets [B, H, D] (float64) for a batch of observations."""
        if not observations:
            return np.zeros((0, self.info.horizon, self.info.action_dim))
        t0 = time.perf_counter()
        state = self.normalized_state(observations)
        images = self.head_images(observations)
        inputs = self.encode(observations)
        t1 = time.perf_counter()
        hidden, mask = self._features(inputs)
        t2 = time.perf_counter()
        noise = self.draw_noise(len(observations)) if noise is None else np.asarray(noise, dtype=np.float32)
        if self._runner is None:
            dev = self.head.position.device
            imgs = None if images is None else torch.from_numpy(images).to(dev)
            out = self.head.sample(hidden, mask, torch.from_numpy(state).to(dev), torch.from_numpy(noise).to(dev),
                                   self.num_steps, imgs).cpu().numpy()
        else:
            out = self._runner.run(hidden.cpu().numpy(), mask.cpu().numpy(), state, noise, images)
        t3 = time.perf_counter()
        frame = self.action_stats.unnormalize(out.astype(np.float64))
        q = np.stack([o.joint_positions for o in observations])
        absolute = action_frames.from_frame(frame, q, self.info.action_frame, self.info.absolute_dims)
        t4 = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": round((t1 - t0) * 1e3, 3), "backbone": round((t2 - t1) * 1e3, 3),
            "head": round((t3 - t2) * 1e3, 3), "head_per_step": round((t3 - t2) * 1e3 / self.num_steps, 3),
            "postprocess": round((t4 - t3) * 1e3, 3), "total": round((t4 - t0) * 1e3, 3),
        }
        return absolute

    def _chunk(self, obs: Observation, actions: np.ndarray) -> ActionChunk:
        return ActionChunk(actions=actions, start_time=obs.timestamp, dt=self.info.dt,
                           provenance=self.info.model_id or "vla", observation_time=obs.timestamp)

    # ---------------------------------------------------------------- Policy protocol
    def infer(self, observation: Observation) -> ActionChunk:
        return self._chunk(observation, self.predict([observation])[0])

    def infer_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """Batched form of infer (the server's dynamic batching calls this)."""
        out = self.predict(list(observations))
        return [self._chunk(o, a) for o, a in zip(observations, out)]

    def example_observation(self) -> Observation:
        """An input of the trained shapes, for the server's warm-up."""
        h, w = self.info.image_size
        return Observation(images={c: np.zeros((h, w, 3), np.uint8) for c in self.info.cameras},
                           joint_positions=np.asarray(self.state_stats.mean, dtype=np.float64).copy(),
                           instruction="touch the red block")

    def metadata(self) -> PolicyMetadata:
        info = self.info
        return PolicyMetadata(
            policy="vla", model_id=info.model_id, robot=info.robot, cameras=info.cameras, image_size=info.image_size,
            chunk_length=info.horizon, action_dim=info.action_dim, control_period=info.dt,
            norm_stats_hash=norm_stats_hash(self.action_stats, self.state_stats), action_frame=info.action_frame,
            backbone_family=self.backbone.family, backend=self.backend,
            details={"feature_layer": info.feature_layer, "backbone_backend": self.backbone_backend,
                     "num_steps": self.num_steps,
                     "head_parameters": self.head.num_parameters(),
                     "head_image_encoder": self.head.config.image_size > 0},
        )

    def reset(self) -> None:
        """Re-seed the noise generator: an episode's noise sequence is reproducible."""
        self._rng = np.random.default_rng(self.seed)


def load_checkpoint(folder: str | Path, **kwargs: Any) -> VLAPolicy:
    """Registry entry point for `kind: vla` (kwargs: backend, backbone_backend, device, num_steps,
    noise_scale, seed, torch_threads), e.g. `roboalign serve --policy DIR --policy-arg backend=onnxruntime`."""
    return VLAPolicy.from_pretrained(folder, **kwargs)


def truncate_backbone(backbone, layer: int) -> None:
    """Drop the decoder blocks after `layer` (the head never reads them), in place.

    Features of `layer` are unchanged (the hook reads the block output before the final norm);
    the cut model is smaller and cannot generate text any more. GR00T does the same with its
    VLM's upper layers.
    """
    k = backbone.resolve_layer(layer)
    if k < 1 or k >= backbone.num_layers:
        return
    lm = backbone.model.model.language_model
    lm.layers = lm.layers[:k]
    for cfg in {id(c): c for c in (backbone.text_config, lm.config)}.values():
        cfg.num_hidden_layers = k
        if getattr(cfg, "layer_types", None):
            cfg.layer_types = list(cfg.layer_types)[:k]


def build_tiny_vla(horizon: int = 8, action_dim: int = 7, d_model: int = 32, num_layers: int = 2,
                   image_size: tuple[int, int] = (56, 56), seed: int = 0, head_image_size: int = 0,
                   **backbone_sizes: Any) -> VLAPolicy:
    """A randomly initialised tiny VLA (tiny Qwen2.5-VL + small head + stats of random chunks) for
    tests and wiring checks: real code paths, meaningless actions."""
    from roboalign.policy.action_head_config import HeadConfig
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    backbone = build_tiny_qwen2_5_vl(corpus=["touch the red block", "touch the blue cube"], **backbone_sizes)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    head = FlowMatchingHead(HeadConfig(action_dim=action_dim, horizon=horizon, state_dim=action_dim,
                                       feature_dim=backbone.hidden_size, d_model=d_model, num_layers=num_layers,
                                       image_size=head_image_size))
    with torch.no_grad():  # leave the zero-initialised output layers non-zero so outputs depend on inputs
        for name, p in head.named_parameters():
            if "modulation" in name or "action_out" in name:
                p.normal_(0.0, 0.05)
    absolute_dims = (action_dim - 1,)
    chunks = np.cumsum(rng.normal(0, 0.05, (64, horizon, action_dim)), axis=1)
    info = VLAInfo(cameras=("front",), horizon=horizon, action_dim=action_dim, dt=0.1,
                   feature_layer=backbone.num_layers, action_frame="delta", absolute_dims=absolute_dims,
                   image_size=image_size, model_id="tiny-vla")
    return VLAPolicy(backbone, head, info, NormStats.fit(chunks), NormStats.fit(rng.uniform(-1, 1, (64, action_dim))))
