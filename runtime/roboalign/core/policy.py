"""The Policy interface every served model implements, and the metadata record it describes itself with.

    class MyPolicy:                                   # any object with these three methods
        def infer(self, observation) -> ActionChunk: ...
        def metadata(self) -> PolicyMetadata: ...
        def reset(self) -> None: ...

    isinstance(policy, Policy)        # runtime check of the three methods
    isinstance(policy, BatchPolicy)   # ... and `infer_batch` (the server's dynamic batching)

`PolicyMetadata` is one record for every policy (scripted expert, no-op, FAST-token backbone,
VLA). Its wire form (`to_dict()`) is the body of the protocol's `metadata` reply
(docs/protocol.md); `from_dict()` refuses unknown keys, so a misspelt or drifting key fails
where it is written instead of being silently ignored by a client.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.robot import RobotSpec


@dataclasses.dataclass(frozen=True, eq=False)
class PolicyMetadata(Mapping):
    """What a policy needs from its caller and what it returns; static for a policy's lifetime.

    policy: the kind ("expert", "noop", "fast-token", "vla", or a registered one).
    model_id: the model's name (checkpoint folder or a fixed name); "" when none.
    chunk_length: H, actions per chunk.
    control_period: seconds between a chunk's actions (ActionChunk.dt).
    robot: the arm the policy drives (a RobotSpec, or its dict); None: any arm (the no-op).
    cameras: camera names the policy reads, in prompt order (Observation.images keys).
    image_size: (height, width) in pixels of the images it was trained on (what the server's
        warm-up feeds); None when it takes any size.
    action_dim: D, joints per action (defaults to robot.dof); None: as many as it is given.
    norm_stats_hash: short hash of the normalisation statistics (NormStats.digest), so client
        and server can check they agree; None for policies without statistics.
    privileged_inputs: simulation-only inputs the policy reads, as Observation.privileged keys
        (the scripted expert: "target_position", "pad_position", carried by /sim/objects over
        ROS). Learned policies: empty; a caller must not wire privileged state to them.
    task_families: sim task families the policy solves (the scripted expert); empty: any.
    action_frame: "absolute" or "delta" targets in training (learned policies), informational.
    backbone_family: the MLLM family ("qwen2_5_vl", "qwen3_vl") of a learned policy.
    backend: what runs the action head ("torch", "onnxruntime", "tensorrt") of a VLA.
    details: other policy-specific facts for logs and people (plain data, never read by the
        runtime), e.g. a VLA's feature_layer, num_steps, head_parameters.

    The record also reads as its wire mapping (meta["robot"] is the RobotSpec dict,
    meta.get("model_id"), dict(meta)), so code written against the protocol's metadata reply
    works on a local policy unchanged; equality compares wire forms.
    """

    policy: str
    model_id: str
    chunk_length: int
    control_period: float
    robot: RobotSpec | None = None
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    action_dim: int | None = None
    norm_stats_hash: str | None = None
    privileged_inputs: tuple[str, ...] = ()
    task_families: tuple[str, ...] = ()
    action_frame: str | None = None
    backbone_family: str | None = None
    backend: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        def fix(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if not isinstance(self.policy, str) or not self.policy:
            raise ValueError(f"PolicyMetadata.policy must name the policy kind, got {self.policy!r}")
        fix("model_id", "" if self.model_id is None else str(self.model_id))
        if isinstance(self.robot, Mapping):
            fix("robot", RobotSpec.from_dict(dict(self.robot)))
        elif self.robot is not None and not isinstance(self.robot, RobotSpec):
            raise TypeError("PolicyMetadata.robot must be a RobotSpec, its dict or None, got "
                            f"{type(self.robot).__name__}")
        fix("chunk_length", _positive_int("chunk_length", self.chunk_length))
        period = float(self.control_period)
        if not (period > 0 and math.isfinite(period)):
            raise ValueError("PolicyMetadata.control_period must be a positive number of seconds, got "
                             f"{self.control_period!r}")
        fix("control_period", period)
        for name in ("cameras", "privileged_inputs", "task_families"):
            fix(name, _names(name, getattr(self, name)))
        if self.image_size is not None:
            size = tuple(self.image_size)
            if len(size) != 2:
                raise ValueError(f"PolicyMetadata.image_size must be (height, width), got {self.image_size!r}")
            fix("image_size", tuple(_positive_int("image_size", s) for s in size))
        if self.action_dim is None and self.robot is not None:
            fix("action_dim", self.robot.dof)
        elif self.action_dim is not None:
            fix("action_dim", _positive_int("action_dim", self.action_dim))
            if self.robot is not None and self.robot.dof != self.action_dim:
                raise ValueError(f"PolicyMetadata: action_dim {self.action_dim} differs from the robot's "
                                 f"{self.robot.dof} joints")
        for name in ("norm_stats_hash", "action_frame", "backbone_family", "backend"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"PolicyMetadata.{name} must be a string or None, got {value!r}")
        if not isinstance(self.details, Mapping) or not all(isinstance(k, str) for k in self.details):
            raise ValueError("PolicyMetadata.details must be a mapping with string keys")
        fix("details", dict(self.details))

    # ---------------------------------------------------------------- wire form
    def to_dict(self) -> dict[str, Any]:
        """The protocol's metadata body: plain data (str, numbers, lists, maps, None); every key always present."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if name == "robot":
                value = None if value is None else value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif name == "details":
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "policy metadata") -> PolicyMetadata:
        """The record of a wire dict; unknown keys are refused (the message lists the valid ones)."""
        from roboalign.config import check_keys

        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
        check_keys(data, _FIELDS, where)
        missing = [n for n in _REQUIRED if n not in data]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def coerce(cls, value: PolicyMetadata | Mapping[str, Any], where: str = "policy metadata") -> PolicyMetadata:
        """`value` itself, or the record of a wire dict (checked like from_dict)."""
        return value if isinstance(value, cls) else cls.from_dict(value, where)

    def deployment_problem(self, simulation: bool) -> str | None:
        """Why this policy cannot drive an arm here, or None. `simulation`: the caller runs a
        simulated arm (the only place privileged inputs exist). The ROS policy node and the
        rollout command's pre-flight both ask this, so they refuse with the same words."""
        name = self.model_id or self.policy
        if self.robot is None:
            return (f"the served policy {name!r} declares no robot (metadata 'robot' is empty), so it cannot drive "
                    "this arm; serve a policy trained for it (e.g. expert or a checkpoint folder)")
        if self.privileged_inputs and not simulation:
            return (f"the served policy {name!r} needs privileged simulator inputs {list(self.privileged_inputs)}, "
                    "which exist only in simulation; on a robot serve a learned policy")
        return None

    # ---------------------------------------------------------------- read-only mapping of the wire form
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)


_FIELDS = tuple(f.name for f in dataclasses.fields(PolicyMetadata))
_REQUIRED = tuple(f.name for f in dataclasses.fields(PolicyMetadata)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or int(value) < 1:
        raise ValueError(f"PolicyMetadata.{name} must be a positive integer, got {value!r}")
    return int(value)


def _names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"PolicyMetadata.{name} must be a list of names, got {value!r}")
    items = tuple(value)
    if not all(isinstance(v, str) and v for v in items) or len(set(items)) != len(items):
        raise ValueError(f"PolicyMetadata.{name} must hold distinct non-empty names, got {list(items)}")
    return items


@runtime_checkable
class Policy(Protocol):
    """A policy knows nothing of the network: the server only transports.

    infer: one Observation -> one ActionChunk (absolute joint targets, RobotSpec order).
    metadata: the PolicyMetadata record (static for the policy's lifetime).
    reset: forget any per-episode state.
    """

    def infer(self, observation: Observation) -> ActionChunk: ...

    def metadata(self) -> PolicyMetadata: ...

    def reset(self) -> None: ...


@runtime_checkable
class BatchPolicy(Policy, Protocol):
    """A Policy that also infers a batch in one call (the server's dynamic batching uses it).

    infer_batch: observations -> one ActionChunk each, in order; same results as calling infer
    on each (up to the policy's own noise).
    """

    def infer_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]: ...
