"""Leader arm teleop: another arm's joint states -> this arm's joint targets, by joint name.

    follower[j] = offsets[j] + scales[j] * leader[joint_map[j]]      (rad; gripper units)

Follower joints not in joint_map hold where they are. With an empty joint_map every follower
joint takes the leader joint of the same name (identical arms). Each leader joint state is
operator activity: a leader that stops publishing trips the deadman and the follower holds.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.teleop.config import LeaderConfig
from roboalign.teleop.input import TeleopInput


class LeaderArmMapping:
    def __init__(self, follower_joints: Sequence[str], config: LeaderConfig | None = None) -> None:
        self.config = config or LeaderConfig()
        names = tuple(follower_joints)
        self.joint_map = dict(self.config.joint_map) or {n: n for n in names}
        unknown = [n for n in self.joint_map if n not in names]
        if unknown:
            raise ValueError(f"leader joint_map names follower joints this arm lacks: {unknown} (arm: {list(names)})")
        self.latest: dict[str, float] | None = None
        self.stamp: float | None = None

    def on_joint_state(self, names: Sequence[str], positions: Sequence[float], now: float) -> bool:
        """A leader JointState; False (and no update) when a mapped leader joint is missing or not finite."""
        leader = dict(zip(names, positions))
        out = {}
        for follower, source in self.joint_map.items():
            value = leader.get(source)
            if value is None or not np.isfinite(value):
                return False
            out[follower] = self.config.offsets.get(follower, 0.0) + self.config.scales.get(follower, 1.0) * float(value)
        self.latest, self.stamp = out, now
        return True

    def read(self) -> TeleopInput:
        return TeleopInput(joints=dict(self.latest) if self.latest else None, stamp=self.stamp)
