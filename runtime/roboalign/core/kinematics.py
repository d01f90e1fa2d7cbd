"""Kinematic records and the forward-kinematics interface (no library behind them here).

KinematicChain: an arm's published Denavit-Hartenberg parameters, as a RobotSpec carries them
(the `kinematics:` section of configs/robots/<arm>.yaml). Kinematics: what the safety filter's
Cartesian workspace check needs from any forward-kinematics implementation
(roboalign.robots: pinocchio for DH chains, MuJoCo for the sim arm).

Units: metres, radians. Poses are in the arm's base frame (the frame of its first DH row).
"""
from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from roboalign.config import check_keys

CONVENTIONS = ("modified", "standard")
_CHAIN_KEYS = ("convention", "rows", "flange")


def _row(values: Any, where: str) -> tuple[float, float, float, float]:
    try:
        row = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be [a (m), d (m), alpha (rad), theta_offset (rad)], got {values!r}") from None
    if len(row) != 4 or not all(math.isfinite(v) for v in row):
        raise ValueError(f"{where} must be 4 finite numbers [a, d, alpha, theta_offset], got {values!r}")
    return row  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class KinematicChain:
    """A serial arm's DH table: one row [a (m), d (m), alpha (rad), theta_offset (rad)] per arm
    joint, in the order of the RobotSpec's arm joints (its joint_names without the gripper).

    convention:
      "modified": Craig's convention, as Franka publishes it: row i places joint i relative to
          joint i-1: RotX(alpha) TransX(a) RotZ(theta_i) TransZ(d), theta_i = q_i + theta_offset.
      "standard": Denavit-Hartenberg's, as Universal Robots publishes it: row i is the motion
          after joint i: RotZ(theta_i) TransZ(d) TransX(a) RotX(alpha).
    flange: a fixed last row (no joint) in the same convention, e.g. Franka's "Flange" row
        (d = 0.107 m); zeros when the last DH frame is the flange already (UR).
    """

    convention: str
    rows: tuple[tuple[float, float, float, float], ...]
    flange: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"kinematics.convention must be one of {CONVENTIONS}, got {self.convention!r}")
        rows = tuple(_row(r, f"kinematics.rows[{i}]") for i, r in enumerate(self.rows))
        if not rows:
            raise ValueError("kinematics.rows must list one DH row per arm joint")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "flange", _row(self.flange, "kinematics.flange"))

    @property
    def dof(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "rows": [list(r) for r in self.rows], "flange": list(self.flange)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KinematicChain:
        if not isinstance(data, Mapping):
            raise ValueError(f"kinematics must be a mapping (convention, rows, flange), got {type(data).__name__}")
        check_keys(data, _CHAIN_KEYS, where="robot spec kinematics")
        try:
            return cls(convention=str(data["convention"]), rows=tuple(data["rows"]),
                       flange=tuple(data.get("flange") or (0.0, 0.0, 0.0, 0.0)))
        except KeyError as exc:
            raise ValueError(f"robot spec kinematics is missing the field {exc.args[0]!r}") from None
        except TypeError:
            raise ValueError("kinematics.rows must be a list of [a, d, alpha, theta_offset] rows") from None


class Kinematics(abc.ABC):
    """Forward kinematics of one arm's tool frame.

    joint_names: the joints it reads, in the order `q` lists them (arm joints only; a RobotSpec
    may have more, e.g. a gripper). Not thread-safe (implementations reuse buffers).
    """

    joint_names: tuple[str, ...]

    @abc.abstractmethod
    def tool_pose(self, q: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position [3] m, rotation [3, 3]) of the tool frame in the base frame."""

    def tool_position(self, q: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
        """(x, y, z) m of the tool point; implementations override it when they can go faster."""
        p = self.tool_pose(q)[0]
        return float(p[0]), float(p[1]), float(p[2])
