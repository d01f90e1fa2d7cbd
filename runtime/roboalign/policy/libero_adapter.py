"""A LIBERO-shaped policy for the inference server: LIBERO observations in, 7-D actions out.

    roboalign serve --policy libero_adapter                      # the random-weight stand-in
    roboalign serve --policy libero_adapter --policy-arg policy=CKPT --policy-arg gripper=open_unit
    roboalign serve --policy FOLDER   # FOLDER/roboalign_policy.yaml: {kind: libero_adapter, args: {policy: CKPT}}

The LIBERO client (roboalign.eval.libero_client) sends per step: `images/agentview` and
`images/wrist` (uint8 224x224x3, already rotated and resized, libero_spec.camera_image) and the
8-D state as `joint_positions` (libero_spec.STATE_LAYOUT; the protocol's state vector, here not
joint angles). The adapter hands that to a wrapped policy (renaming cameras if it reads other
names) and maps the wrapped policy's [H, 7] chunk to LIBERO's action space: 6 OSC_POSE deltas
clipped to [-1, 1] and the gripper converted to LIBERO's convention (-1 open, +1 close).

Success on LIBERO needs a wrapped checkpoint trained on LIBERO data. The default stand-in
(`LiberoStandIn`, random weights) exists only so the wire path runs end to end: it never
solves a task.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.policy import Policy, PolicyMetadata
from roboalign.policy import libero_spec as spec

# How a wrapped policy encodes the gripper (the last action column):
#   libero:     [-1, 1], -1 open, +1 close (LIBERO's own; openpi's LIBERO models)
#   open_unit:  [0, 1], 1 open (the RLDS LIBERO datasets OpenVLA trained on)
#   close_unit: [0, 1], 1 closed
GRIPPER_CONVENTIONS = ("libero", "open_unit", "close_unit")


def to_libero_actions(raw: np.ndarray, gripper: str = "libero", binarize_gripper: bool = False) -> np.ndarray:
    """[H, 7] wrapped-policy actions -> [H, 7] LIBERO actions (copy). ValueError if the shape or
    values cannot be LIBERO actions."""
    a = np.array(raw, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != spec.ACTION_DIM:
        raise ValueError(f"a LIBERO action chunk is [H, {spec.ACTION_DIM}] (6 eef deltas + gripper), "
                         f"the wrapped policy returned {list(a.shape)}")
    if not np.isfinite(a).all():
        raise ValueError("the wrapped policy returned NaN or inf actions")
    if gripper not in GRIPPER_CONVENTIONS:
        raise ValueError(f"gripper convention {gripper!r}: choose one of {GRIPPER_CONVENTIONS}")
    g = a[:, 6]
    if gripper == "open_unit":
        g = 1.0 - 2.0 * g
    elif gripper == "close_unit":
        g = 2.0 * g - 1.0
    if binarize_gripper:  # OpenVLA's evaluators: a half-open command is still a decision
        g = np.where(g > 0.0, 1.0, -1.0)
    a[:, 6] = g
    return np.clip(a, -1.0, 1.0)  # OSC_POSE takes deltas in [-1, 1]; robosuite would clip too


def example_observation(instruction: str = "warm-up") -> Observation:
    """An input of the shapes the LIBERO client sends (the server's warm-up)."""
    size = spec.IMAGE_SIZE
    return Observation(images={cam: np.zeros((size, size, 3), np.uint8) for cam in spec.CAMERAS},
                       joint_positions=np.zeros(spec.STATE_DIM), instruction=instruction)


def _check_observation(obs: Observation) -> None:
    missing = [c for c in spec.CAMERAS if c not in obs.images]
    if missing:
        raise ValueError(f"a LIBERO observation carries images/{', images/'.join(spec.CAMERAS)}; missing {missing}")
    for cam in spec.CAMERAS:
        if obs.images[cam].shape != (spec.IMAGE_SIZE, spec.IMAGE_SIZE, 3):
            raise ValueError(f"images/{cam} is {list(obs.images[cam].shape)}; the LIBERO protocol sends "
                             f"{spec.IMAGE_SIZE}x{spec.IMAGE_SIZE} (libero_spec.camera_image)")
    if obs.joint_positions.shape != (spec.STATE_DIM,):
        raise ValueError(f"joint_positions carries LIBERO's {spec.STATE_DIM}-D state ({spec.STATE_LAYOUT}), "
                         f"got {obs.joint_positions.shape[0]} values")


class LiberoStandIn:
    """A random-weight, LIBERO-shaped policy: a tiny seeded MLP over 8x8-pooled images and the
    state. It moves the arm (so the wire path and the sim do real work) but never solves a task.
    Its gripper column is in the close_unit convention, so the adapter's mapping is exercised."""

    gripper_convention = "close_unit"

    def __init__(self, horizon: int = 10, seed: int = 0, hidden: int = 32, scale: float = 0.5) -> None:
        if int(horizon) < 1:
            raise ValueError(f"LiberoStandIn: horizon must be >= 1, got {horizon}")
        self.horizon = int(horizon)
        rng = np.random.default_rng(seed)
        n_in = 2 * 8 * 8 + spec.STATE_DIM
        self.w1 = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, hidden))
        self.w2 = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, self.horizon * spec.ACTION_DIM))
        self.scale = float(scale)

    @staticmethod
    def _pooled(image: np.ndarray) -> np.ndarray:
        grey = image.astype(np.float64).mean(axis=2) / 255.0
        h, w = grey.shape
        return grey[: h - h % 8, : w - w % 8].reshape(8, h // 8, 8, w // 8).mean(axis=(1, 3)).ravel()

    def infer(self, observation: Observation) -> ActionChunk:
        features = np.concatenate([*(self._pooled(observation.images[c]) for c in spec.CAMERAS),
                                   observation.joint_positions])
        out = np.tanh(np.tanh(features @ self.w1) @ self.w2).reshape(self.horizon, spec.ACTION_DIM)
        actions = np.concatenate([self.scale * out[:, :6], 0.5 * (out[:, 6:] + 1.0)], axis=1)
        return ActionChunk(actions=actions, start_time=observation.timestamp, dt=spec.CONTROL_PERIOD_S,
                           provenance="libero-standin", observation_time=observation.timestamp)

    def example_observation(self) -> Observation:
        return example_observation()

    def metadata(self) -> PolicyMetadata:
        return PolicyMetadata(policy="libero_standin", model_id="libero-standin-random", chunk_length=self.horizon,
                              control_period=spec.CONTROL_PERIOD_S, cameras=tuple(spec.CAMERAS),
                              image_size=(spec.IMAGE_SIZE, spec.IMAGE_SIZE), action_dim=spec.ACTION_DIM,
                              action_frame="delta", details={"gripper_convention": self.gripper_convention,
                                                             "trained_on_libero": False})

    def reset(self) -> None:
        pass


class LiberoAdapter:
    """Serves `policy` (a Policy, a registered kind or a checkpoint folder) on LIBERO's action space.

    gripper: the wrapped policy's gripper convention (GRIPPER_CONVENTIONS); None: what its
    metadata.details["gripper_convention"] says, else "libero". binarize_gripper: send only
    -1/+1. camera_map: LIBERO camera name (agentview, wrist) -> the wrapped policy's name for it.
    policy_args: keyword arguments for loading `policy` by name or path.
    """

    def __init__(self, policy: Policy | str | Path = "libero_standin", gripper: str | None = None,
                 binarize_gripper: bool = False, camera_map: Mapping[str, str] | None = None,
                 policy_args: Mapping[str, Any] | None = None) -> None:
        if isinstance(policy, (str, Path)):
            from roboalign.policy.registry import load_policy

            policy = load_policy(policy, **dict(policy_args or {}))
        self.policy = policy
        inner = policy.metadata()
        gripper = gripper or str(inner.details.get("gripper_convention", "libero"))
        if gripper not in GRIPPER_CONVENTIONS:
            raise ValueError(f"LiberoAdapter: gripper convention {gripper!r}: choose one of {GRIPPER_CONVENTIONS}")
        camera_map = dict(camera_map or {})
        unknown = sorted(set(camera_map) - set(spec.CAMERAS))
        if unknown:
            raise ValueError(f"LiberoAdapter: camera_map keys are LIBERO cameras {list(spec.CAMERAS)}, got {unknown}")
        if inner.action_dim not in (None, spec.ACTION_DIM):
            raise ValueError(f"LiberoAdapter: the wrapped policy {inner.model_id or inner.policy!r} returns "
                             f"{inner.action_dim}-D actions; LIBERO takes {spec.ACTION_DIM}-D (6 eef deltas + gripper)")
        self.gripper = gripper
        self.binarize_gripper = bool(binarize_gripper)
        self.camera_map = {cam: camera_map.get(cam, cam) for cam in spec.CAMERAS}
        self._inner_meta = inner

    def infer(self, observation: Observation) -> ActionChunk:
        _check_observation(observation)
        images = {self.camera_map[cam]: observation.images[cam] for cam in spec.CAMERAS}
        chunk = self.policy.infer(Observation(
            images=images, joint_positions=observation.joint_positions, instruction=observation.instruction,
            timestamp=observation.timestamp, capture_times=observation.capture_times))
        actions = to_libero_actions(chunk.actions, self.gripper, self.binarize_gripper)
        return ActionChunk(actions=actions, start_time=chunk.start_time, dt=spec.CONTROL_PERIOD_S,
                           provenance=chunk.provenance, observation_time=chunk.observation_time)

    def example_observation(self) -> Observation:
        return example_observation()

    def metadata(self) -> PolicyMetadata:
        inner = self._inner_meta
        return PolicyMetadata(
            policy="libero_adapter", model_id=inner.model_id, chunk_length=inner.chunk_length,
            control_period=spec.CONTROL_PERIOD_S, cameras=tuple(spec.CAMERAS),
            image_size=(spec.IMAGE_SIZE, spec.IMAGE_SIZE), action_dim=spec.ACTION_DIM,
            norm_stats_hash=inner.norm_stats_hash, action_frame="delta", backbone_family=inner.backbone_family,
            backend=inner.backend,
            details={"benchmark": "libero", "state": spec.STATE_LAYOUT, "gripper": spec.GRIPPER_MEANING,
                     "wrapped_policy": inner.policy, "gripper_convention": self.gripper,
                     "binarize_gripper": self.binarize_gripper,
                     "trained_on_libero": bool(inner.details.get("trained_on_libero", True))})

    def reset(self) -> None:
        self.policy.reset()


def load_checkpoint(folder: str | Path, policy: str | Path = "libero_standin", **kwargs: Any) -> LiberoAdapter:
    """`kind: libero_adapter` in FOLDER/roboalign_policy.yaml; a relative `policy` path is read
    from FOLDER (a registered kind name stays a name)."""
    from roboalign.policy.registry import available_policies

    if str(policy) not in available_policies():
        path = Path(policy).expanduser()
        policy = path if path.is_absolute() else Path(folder) / path
    return LiberoAdapter(policy=policy, **kwargs)
