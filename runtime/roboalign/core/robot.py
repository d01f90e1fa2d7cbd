"""RobotSpec: what a controller must know about an arm (joints, limits, control rate), and the
Robot interface (with its JointState record) every arm driver implements.

Units: positions in rad (gripper in its own normalised unit, 0 = open, 1 = closed unless a
spec says otherwise), velocities in rad/s, accelerations in rad/s^2, rates in Hz.
"""
from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from roboalign.config import check_keys, read_yaml
from roboalign.core.camera import Camera
from roboalign.core.kinematics import KinematicChain, Kinematics
from roboalign.errors import ConfigError, RoboAlignError

_SPEC_KEYS = ("name", "joint_names", "limits", "control_rate_hz", "gripper_index", "kinematics")
_LIMIT_KEYS = ("lower", "upper", "max_velocity", "max_acceleration", "max_jerk")

@dataclasses.dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, arrays of shape [D] in joint order."""

    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray
    max_jerk: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        n = None
        for name, value in arrays.items():
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
            if n is None:
                n = arr.shape[0]
            if arr.shape[0] != n:
                raise ValueError(f"JointLimits.{name} has {arr.shape[0]} entries, expected {n}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"JointLimits.{name} must be finite, got {arr.tolist()}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if np.any(self.lower >= self.upper):
            raise ValueError("JointLimits: every lower limit must be below its upper limit")
        for name in ("max_velocity", "max_acceleration", "max_jerk"):
            value = getattr(self, name)
            if value is not None and np.any(value <= 0):
                raise ValueError(f"JointLimits.{name} must be positive")

    @property
    def dim(self) -> int:
        return int(self.lower.shape[0])


@dataclasses.dataclass(frozen=True)
class RobotSpec:
    """An arm as a controller sees it: joint names in command order, limits, control rate.

    `joint_names` lists every commanded dimension, the gripper included (as the last entry
    when there is one), so an ActionChunk of dimension D maps 1:1 onto these names.
    `kinematics` (optional): the arm's published DH table, one row per arm joint (joint_names
    without the gripper, in order), for forward kinematics (roboalign.robots).
    """

    name: str
    joint_names: tuple[str, ...]
    limits: JointLimits
    control_rate_hz: float
    gripper_index: int | None = None
    kinematics: KinematicChain | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"RobotSpec {self.name!r}: joint names must be unique")
        if len(self.joint_names) != self.limits.dim:
            raise ValueError(
                f"RobotSpec {self.name!r}: {len(self.joint_names)} joint names but limits for "
                f"{self.limits.dim} joints"
            )
        if not (self.control_rate_hz > 0 and np.isfinite(self.control_rate_hz)):
            raise ValueError("RobotSpec.control_rate_hz must be a positive number of Hz")
        if self.gripper_index is not None and not 0 <= self.gripper_index < self.dof:
            raise ValueError("RobotSpec.gripper_index out of range")
        if self.kinematics is not None and self.kinematics.dof != len(self.arm_joint_names):
            raise ValueError(
                f"RobotSpec {self.name!r}: kinematics has {self.kinematics.dof} DH rows but the arm has "
                f"{len(self.arm_joint_names)} joints {list(self.arm_joint_names)}"
            )

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    @property
    def arm_joint_names(self) -> tuple[str, ...]:
        """joint_names without the gripper: the joints a kinematic chain moves."""
        return tuple(n for i, n in enumerate(self.joint_names) if i != self.gripper_index)

    @property
    def control_period(self) -> float:
        """Seconds between control steps."""
        return 1.0 / self.control_rate_hz

    def margins(self, position_margin: float, gripper_margin: float) -> np.ndarray:
        """Per-joint distance [dof] to keep inside the position limits: position_margin (rad) on the
        arm joints, gripper_margin (gripper units) on the gripper. The executor's plan, the safety
        filter and teleop each narrow the limits by their own margins through this."""
        margin = np.full(self.dof, float(position_margin))
        if self.gripper_index is not None:
            margin[self.gripper_index] = float(gripper_margin)
        return margin

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "joint_names": list(self.joint_names),
            "control_rate_hz": float(self.control_rate_hz),
            "gripper_index": self.gripper_index,
            "limits": {
                "lower": self.limits.lower.tolist(),
                "upper": self.limits.upper.tolist(),
                "max_velocity": self.limits.max_velocity.tolist(),
                "max_acceleration": self.limits.max_acceleration.tolist(),
                "max_jerk": None if self.limits.max_jerk is None else self.limits.max_jerk.tolist(),
            },
            **({"kinematics": self.kinematics.to_dict()} if self.kinematics is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobotSpec:
        """Build from the mapping to_dict() writes; unknown keys are refused (a misspelt limit
        must never fall back to nothing), missing ones named."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a robot spec must be a mapping of its fields, got {type(data).__name__}")
        check_keys(data, _SPEC_KEYS, where="robot spec")
        if isinstance(data.get("limits"), Mapping):
            check_keys(data["limits"], _LIMIT_KEYS, where="robot spec limits")
        try:
            lim = data["limits"]
            limits = JointLimits(
                lower=np.asarray(lim["lower"], dtype=np.float64),
                upper=np.asarray(lim["upper"], dtype=np.float64),
                max_velocity=np.asarray(lim["max_velocity"], dtype=np.float64),
                max_acceleration=np.asarray(lim["max_acceleration"], dtype=np.float64),
                max_jerk=None if lim.get("max_jerk") is None else np.asarray(lim["max_jerk"], dtype=np.float64),
            )
            return cls(
                name=str(data["name"]),
                joint_names=tuple(data["joint_names"]),
                limits=limits,
                control_rate_hz=float(data["control_rate_hz"]),
                gripper_index=data.get("gripper_index"),
                kinematics=None if data.get("kinematics") is None else KinematicChain.from_dict(data["kinematics"]),
            )
        except KeyError as exc:
            raise ValueError(f"robot spec is missing the field {exc.args[0]!r}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> RobotSpec:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"robot spec {path} does not exist: pass a YAML file written by RobotSpec.save")
        data, _ = read_yaml(path)  # malformed YAML: ConfigError with line and column
        try:
            return cls.from_dict(data)
        except ConfigError as exc:  # exc.path names the section ("robot spec limits")
            raise ConfigError(f"{exc.path}: {exc.message}" if exc.path else exc.message, path=path) from None
        except ValueError as exc:
            raise ConfigError(str(exc), path=path) from None


@dataclasses.dataclass(frozen=True)
class JointState:
    """The measured joints at one instant.

    names: joint names in the order of `positions` (a Robot returns its RobotSpec order; other
        sources, e.g. a sensor_msgs/JointState, may use any order: the observation assembler
        reorders by name).
    positions: [D] rad (gripper in its spec unit). velocities: [D] rad/s, or None if unmeasured.
    capture_time: seconds on the host clock (ROS time in the nodes, simulated time in the sim)
        at which the joints were sampled, the clock of Frame.capture_time.
    """

    names: tuple[str, ...]
    positions: np.ndarray
    capture_time: float
    velocities: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        pos = np.asarray(self.positions, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "positions", pos)
        if len(self.names) != pos.shape[0]:
            raise ValueError(f"JointState: {len(self.names)} names but {pos.shape[0]} positions")
        if self.velocities is not None:
            vel = np.asarray(self.velocities, dtype=np.float64).reshape(-1)
            if vel.shape != pos.shape:
                raise ValueError(f"JointState: {vel.shape[0]} velocities but {pos.shape[0]} positions")
            object.__setattr__(self, "velocities", vel)


class RobotError(RoboAlignError):
    """A robot cannot do what was asked; the message says what to do."""


class RobotNotConnectedError(RobotError):
    """read_state() or send_command() on a robot that is not connected (call connect() first)."""


class Robot(abc.ABC):
    """An arm as the control loop drives it: measured joints in, absolute joint targets out.

    Lifecycle: `connect()` brings the arm (and its cameras) up; `disconnect()` stops sending
    and releases it. Both are idempotent. read_state() and send_command() on a disconnected
    robot raise RobotNotConnectedError whose message says to call connect().

    Clock: `now()` is the clock of every capture_time this robot and its cameras report (the
    host's monotonic clock on hardware, simulated seconds in the sim); `sleep_until(t)` returns
    once now() >= t (hardware: sleeps; a simulator advances its physics to t). The control
    loop runs on this clock only, so a simulated robot runs as fast as the CPU allows.

    Commands are absolute joint-position targets in RobotSpec order, already made safe by the
    caller (roboalign.control.safety.SafetyFilter); a driver must still refuse non-finite
    values or a wrong count (ValueError) and never move on them.
    """

    @property
    @abc.abstractmethod
    def spec(self) -> RobotSpec:
        """Joint names (command order), limits and control rate."""

    @property
    @abc.abstractmethod
    def cameras(self) -> Mapping[str, Camera]:
        """The cameras mounted on or around this robot, by name (may be empty)."""

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """True between connect() and disconnect()."""

    @abc.abstractmethod
    def connect(self) -> None:
        """Bring the arm and its cameras up. Idempotent. Raises RobotError saying what to check."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop commanding, release the arm and its cameras. Idempotent; never raises."""

    @abc.abstractmethod
    def now(self) -> float:
        """Seconds on this robot's clock (see the class docstring)."""

    @abc.abstractmethod
    def sleep_until(self, t: float) -> None:
        """Return once now() >= t (immediately if it already is)."""

    @abc.abstractmethod
    def read_state(self) -> JointState:
        """The newest measured joints, in RobotSpec order, stamped with their capture time."""

    def kinematics(self, tool_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Kinematics | None:
        """Forward kinematics of this arm's tool point (tool_offset: m in its flange/tool frame),
        or None when this robot has none (then a Cartesian workspace check cannot run)."""
        return None

    @abc.abstractmethod
    def send_command(self, positions: np.ndarray) -> None:
        """Set the absolute joint targets [D] (rad; gripper in spec units), RobotSpec order.

        Returns without waiting for the motion. ValueError (and no motion) on a wrong count or
        a non-finite value."""
