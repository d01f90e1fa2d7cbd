"""SafetyGuard: when the arm must stop although every command is fine, and when it may go on.

Pure Python + numpy, no ROS: the safety node feeds it e-stop messages, joint states, the
commands it sent and clock ticks, and stops the SafetyFilter (SafetyFilter.estop()) while
`stopped` is True. Times are seconds on the caller's monotonic clock.

Stop reasons (each counted when it starts to hold the arm):

  estop              a source on /safety/estop says True                      latched
  estop_heartbeat    a required e-stop heartbeat is missing (or never came)   latched
  following_error    the measured arm left its commanded envelope             latched
  joint_states_stale no new joint state for joint_state_timeout s            clears itself

Latched reasons clear only through reset(), which is refused while the e-stop is asserted,
while the heartbeat is missing and while joint states are stale. With a heartbeat required
the guard starts latched (no e-stop source has been heard yet): the arm moves only after an
e-stop source is up and someone reset. Stale joint states clear once a fresh one arrives.
Whatever cleared a stop, the caller re-initialises the filter from the measured joints and
moves only on a command given after that moment (a stop never resumes by itself into an old
target; shared/DESIGN.md, safety contract).
"""
from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Hashable
from typing import Any

import numpy as np

from roboalign.control.monitors import EStopMonitor, FollowingErrorMonitor, JointStateMonitor
from roboalign.core.robot import RobotSpec


class StopReason(str, enum.Enum):
    ESTOP = "estop"
    HEARTBEAT = "estop_heartbeat"
    FOLLOWING = "following_error"
    STALE_JOINTS = "joint_states_stale"


LATCHED = frozenset({StopReason.ESTOP, StopReason.HEARTBEAT, StopReason.FOLLOWING})


@dataclasses.dataclass(frozen=True)
class GuardConfig:
    joint_state_timeout: float = 0.2        # s without a new joint state before stopping
    following_error_limit: float = 0.2      # rad outside the commanded envelope
    following_delay: float = 0.25           # s of commands the measured arm may lag behind
    following_error_time: float = 0.1       # s the error must last before stopping
    estop_heartbeat_timeout: float | None = 0.5  # s between e-stop messages; None = not required

    def __post_init__(self) -> None:
        for name in ("joint_state_timeout", "following_error_limit"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"GuardConfig.{name} must be > 0, got {value}")
        for name in ("following_delay", "following_error_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"GuardConfig.{name} must be >= 0 s, got {value}")
        hb = self.estop_heartbeat_timeout
        if hb is not None and not (math.isfinite(hb) and hb > 0.0):
            raise ValueError(f"GuardConfig.estop_heartbeat_timeout must be > 0 s or None, got {hb}")


@dataclasses.dataclass(frozen=True)
class ResetAnswer:
    accepted: bool
    message: str


class SafetyGuard:
    """Combines the monitors of roboalign.control.monitors into one stop/go decision."""

    def __init__(self, spec: RobotSpec, config: GuardConfig | None = None) -> None:
        self.spec = spec
        self.config = cfg = config or GuardConfig()
        monitored = np.ones(spec.dof, bool)
        if spec.gripper_index is not None:
            monitored[spec.gripper_index] = False  # a gripper closing on an object is blocked by design
        self.joints = JointStateMonitor(cfg.joint_state_timeout)
        self.following = FollowingErrorMonitor(spec.joint_names, cfg.following_error_limit, cfg.following_delay,
                                               cfg.following_error_time, monitored)
        self.estop = EStopMonitor(cfg.estop_heartbeat_timeout)
        self.active: dict[StopReason, str] = {}   # what holds the arm now -> why, in words
        self.counts: dict[str, int] = {r.value: 0 for r in StopReason}
        self.last_reason = ""                     # the most recent reason that stopped the arm
        if cfg.estop_heartbeat_timeout is not None:
            self._activate(StopReason.HEARTBEAT, self.estop.heartbeat_reason(0.0) or "")

    @property
    def stopped(self) -> bool:
        return bool(self.active)

    @property
    def reason(self) -> str:
        return "; ".join(self.active.values())

    # ---- inputs ------------------------------------------------------------------------------
    def on_estop(self, source: Hashable, asserted: bool, now: float, name: str | None = None) -> None:
        """An e-stop message from `source` (a key per publisher); `name`: who it is, for people."""
        self.estop.update(source, asserted, now, name)
        if asserted:
            self._activate(StopReason.ESTOP, f"e-stop asserted on /safety/estop by {self.estop.name(source)}")

    def on_joint_state(self, stamp: float, positions: np.ndarray, now: float) -> bool:
        """A measured joint state (stamp: the sender's clock); True when it is fresh."""
        fresh = self.joints.update(stamp, positions, now)
        if not fresh:
            return False
        self.active.pop(StopReason.STALE_JOINTS, None)
        if not self.stopped:
            fault = self.following.measure(positions, now)
            if fault is not None:
                self._activate(StopReason.FOLLOWING, fault.reason(self.following.limit))
        return True

    def on_command_sent(self, positions: np.ndarray, now: float) -> None:
        """The command just sent to the arm (the filter's output): what it must follow."""
        if not self.stopped:
            self.following.command(positions, now)

    def tick(self, now: float) -> None:
        """Time-based checks: the e-stop heartbeat and joint-state staleness."""
        heartbeat = self.estop.heartbeat_reason(now)
        if heartbeat is not None:
            self._activate(StopReason.HEARTBEAT, heartbeat)
        stale = self.joints.stale_reason(now)
        if stale is not None:
            self._activate(StopReason.STALE_JOINTS, stale)

    def restart_following(self) -> None:
        """The filter was re-initialised from the measured joints: old commands mean nothing."""
        self.following.clear()

    # ---- clearing ----------------------------------------------------------------------------
    def reset(self, now: float) -> ResetAnswer:
        """An operator's reset: clears the latched reasons unless a cause is still present.
        Sources whose heartbeat is gone are forgotten (the reset acknowledges them)."""
        self.estop.forget_silent(now)
        if self.estop.asserted:
            who = ", ".join(self.estop.asserting())
            return ResetAnswer(False, f"e-stop still asserted on /safety/estop by {who}: release it first")
        for why in (self.estop.heartbeat_reason(now), self.joints.stale_reason(now)):
            if why is not None:
                return ResetAnswer(False, f"cannot reset: {why}")
        cleared = sorted(r.value for r in self.active if r in LATCHED)
        for reason in LATCHED:
            self.active.pop(reason, None)
        self.following.clear()
        what = f"cleared {', '.join(cleared)}" if cleared else "nothing latched"
        return ResetAnswer(True, f"{what}; holding still until a fresh command arrives")

    def reset_episode(self, now: float) -> None:
        """Between episodes (the in-process runner): the arm was placed anew, so staleness counts
        from now and a following error of the last episode is forgotten. Like reset(), it
        clears an e-stop or heartbeat latch only once its cause is gone: never while a source
        asserts the e-stop or the heartbeat is missing."""
        self.joints.restart(now)
        self.following.clear()
        self.active.pop(StopReason.FOLLOWING, None)
        self.active.pop(StopReason.STALE_JOINTS, None)
        if not self.estop.asserted:
            self.active.pop(StopReason.ESTOP, None)
        if self.estop.heartbeat_reason(now) is None:
            self.active.pop(StopReason.HEARTBEAT, None)

    # ---- reporting ---------------------------------------------------------------------------
    def status(self, now: float) -> dict[str, Any]:
        """Key figures for diagnostics (plain types)."""
        return {
            "stop_reason": self.reason or "none",
            "last_stop_reason": self.last_reason or "none",
            "estop_asserted": self.estop.asserted,
            "estop_sources": self.estop.sources,
            "joint_state_age_s": round(self.joints.age(now), 4),
            "joint_state_gap_max_s": round(self.joints.max_gap, 4),
            "joint_state_repeats": self.joints.repeats,
            "following_error_peak_rad": round(self.following.peak, 4),
            "following_error_peak_joint": self.following.peak_joint or "none",
        }

    def _activate(self, reason: StopReason, message: str) -> None:
        if reason in self.active:
            return
        self.active[reason] = message
        self.counts[reason.value] += 1
        self.last_reason = message
        self.following.clear()
