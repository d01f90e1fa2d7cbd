"""Monitors of what the safety filter cannot see from commands alone: is the arm still
reporting, is it following what it is told, is someone still holding the e-stop.

Pure Python + numpy, no ROS (roboalign.control.guard combines them; the safety node feeds
them). Every method takes `now`: seconds on the caller's monotonic clock, so tests drive any
timing. Each monitor answers with a reason a person can act on, or None when all is well.

- JointStateMonitor: joint states are fresh while new ones keep arriving: a message counts
  only if its stamp is newer than the last one (a driver that republishes a frozen sample with
  the same stamp, or a clock that jumps back, is not fresh).
- FollowingErrorMonitor: the measured arm must stay within `limit` rad of what it was
  commanded over the last `delay` seconds (the envelope of those commands: a real arm lags its
  command by its controller's and the transport's delay); beyond it for `duration` s = fault
  (a blocked joint, a collision, a driver that stopped following).
- EStopMonitor: e-stop sources publish their state periodically; with a heartbeat timeout,
  a source that goes silent (or no source at all) is a lost heartbeat, i.e. an e-stop.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence

import numpy as np


# ---- joint-state freshness ---------------------------------------------------------------------
class JointStateMonitor:
    """How long since the arm last reported a new joint state (s)."""

    def __init__(self, timeout: float) -> None:
        if not (math.isfinite(timeout) and timeout > 0.0):
            raise ValueError(f"joint state timeout must be > 0 s, got {timeout}")
        self.timeout = float(timeout)
        self.repeats = 0                 # messages whose stamp did not advance (frozen or out of order)
        self.max_gap = 0.0               # s: longest wait between two fresh joint states seen
        self._last_stamp = -math.inf     # newest stamp seen (the sender's clock, s)
        self._last_fresh: float | None = None  # `now` of the last fresh message; None = none yet

    def update(self, stamp: float, positions: Sequence[float], now: float) -> bool:
        """A joint state message stamped `stamp` arrived at `now`; True when it is fresh."""
        if not (math.isfinite(stamp) and np.all(np.isfinite(positions))) or stamp <= self._last_stamp:
            self.repeats += 1
            return False
        if self._last_fresh is not None:
            self.max_gap = max(self.max_gap, now - self._last_fresh)
        self._last_stamp = float(stamp)
        self._last_fresh = float(now)
        return True

    @property
    def started(self) -> bool:
        """A fresh joint state has arrived since construction (staleness counts from then on)."""
        return self._last_fresh is not None

    def age(self, now: float) -> float:
        """Seconds since the last fresh joint state (inf before the first)."""
        return math.inf if self._last_fresh is None else max(0.0, now - self._last_fresh)

    def stale_reason(self, now: float) -> str | None:
        age = self.age(now)
        if self._last_fresh is None or age <= self.timeout:
            return None
        return f"joint states stale by {age:.3f} s (limit {self.timeout:.3f} s)"

    def restart(self, now: float) -> None:
        """Count staleness from `now` (e.g. a new episode after a pause): the last stamp stays,
        so a frozen sample still never counts as fresh."""
        if self._last_fresh is not None:
            self._last_fresh = float(now)


# ---- following error ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FollowingFault:
    joint: str
    error: float      # rad beyond the commanded envelope
    duration: float   # s the error has been over the limit

    def reason(self, limit: float) -> str:
        return (f"following error {self.error:.3f} rad on {self.joint} for {self.duration:.3f} s "
                f"(limit {limit:.3f} rad)")


class FollowingErrorMonitor:
    """Measured vs commanded joints.

    command(q, now): the command sent to the arm at `now` (in effect until the next one).
    measure(q, now): a measurement; returns a FollowingFault once the error has stayed above
    `limit` for `duration` seconds. The error of joint j is its distance outside [min, max] of
    the commands in effect during [now - delay, now], so a lag of up to `delay` seconds costs
    nothing, whatever the speed. Only joints where `monitored` is True count (a gripper closing
    on an object is blocked by design)."""

    def __init__(self, joint_names: Sequence[str], limit: float, delay: float, duration: float,
                 monitored: Sequence[bool] | None = None) -> None:
        for name, value, low in (("limit", limit, 0.0), ("delay", delay, 0.0), ("duration", duration, 0.0)):
            if not (math.isfinite(value) and value >= low) or (name == "limit" and value <= 0.0):
                raise ValueError(f"following error {name} must be {'> 0' if name == 'limit' else '>= 0'}, got {value}")
        self.joint_names = tuple(joint_names)
        self.limit, self.delay, self.duration = float(limit), float(delay), float(duration)
        mask = np.ones(len(self.joint_names), bool) if monitored is None else np.asarray(monitored, bool)
        if mask.shape != (len(self.joint_names),):
            raise ValueError(f"monitored needs one flag per joint ({len(self.joint_names)}), got {mask.shape}")
        self._mask = mask
        # Commands in a numpy buffer, oldest first, live in [_start, _end): one joint state costs
        # a binary search and a min/max over the window (~10 us at 500 Hz commands, 0.25 s).
        self._times = np.empty(64)
        self._commands = np.empty((64, len(self.joint_names)))
        self._start = self._end = 0
        self._over_since: float | None = None
        self.peak = 0.0                  # rad: largest error measured since the last clear()
        self.peak_joint = ""

    def clear(self) -> None:
        """Forget every command (after a stop or a re-initialisation): nothing is compared
        until the next command()."""
        self._start = self._end = 0
        self._over_since = None

    def command(self, positions: np.ndarray, now: float) -> None:
        q = np.asarray(positions, dtype=np.float64).reshape(-1)
        if q.shape[0] != self._mask.shape[0] or not np.all(np.isfinite(q)):
            return  # the filter only emits finite commands of the right size; never compare junk
        if self._end > self._start and now < self._times[self._end - 1]:
            now = float(self._times[self._end - 1])  # keep the history ordered whatever the caller's timing
        if self._end == len(self._times):
            self._make_room()
        self._times[self._end] = now
        self._commands[self._end] = q
        self._end += 1
        # Keep the newest command older than the window: it was in effect at the window's start.
        self._start += self._in_effect_at(now - self.delay)

    def _in_effect_at(self, t: float) -> int:
        """Offset from _start of the command in effect at time t (0 if none is that old)."""
        k = int(np.searchsorted(self._times[self._start:self._end], t, side="right")) - 1
        return max(k, 0)

    def _make_room(self) -> None:
        live = self._end - self._start
        if live * 2 > len(self._times):  # mostly live: grow
            self._times = np.resize(self._times, 2 * len(self._times))
            self._commands = np.resize(self._commands, (2 * len(self._commands), self._commands.shape[1]))
        self._times[:live] = self._times[self._start:self._end]
        self._commands[:live] = self._commands[self._start:self._end]
        self._start, self._end = 0, live

    def error(self, positions: np.ndarray, now: float) -> np.ndarray | None:
        """Per-joint error (rad, 0 for unmonitored joints), or None with no command yet."""
        if self._end == self._start:
            return None
        q = np.asarray(positions, dtype=np.float64).reshape(-1)
        window = self._commands[self._start + self._in_effect_at(now - self.delay):self._end]
        low, high = window.min(axis=0), window.max(axis=0)
        err = np.maximum(np.maximum(low - q, q - high), 0.0)
        # NaN never compares: a non-finite measurement is no evidence of following.
        err = np.where(np.isfinite(q), err, np.inf)
        return np.where(self._mask, err, 0.0)

    def measure(self, positions: np.ndarray, now: float) -> FollowingFault | None:
        err = self.error(positions, now)
        if err is None:
            self._over_since = None
            return None
        worst = int(np.argmax(err))
        if err[worst] > self.peak:
            self.peak, self.peak_joint = float(err[worst]), self.joint_names[worst]
        if err[worst] <= self.limit:
            self._over_since = None
            return None
        if self._over_since is None:
            self._over_since = float(now)
        over = now - self._over_since
        if over < self.duration:
            return None
        return FollowingFault(self.joint_names[worst], float(err[worst]), float(over))


# ---- e-stop sources and their heartbeat ----------------------------------------------------------
class EStopMonitor:
    """The e-stop state of every source on /safety/estop.

    heartbeat_timeout None: no heartbeat is required and the newest message wins, whoever sent
    it (one source). A number: each source (a publisher, told apart by the caller's `source`
    key) must repeat its state within that many seconds; a silent source, or none at all, is a
    lost heartbeat. The e-stop counts as asserted while any known source last said True.
    """

    def __init__(self, heartbeat_timeout: float | None) -> None:
        if heartbeat_timeout is not None and not (math.isfinite(heartbeat_timeout) and heartbeat_timeout > 0.0):
            raise ValueError(f"e-stop heartbeat timeout must be > 0 s or None, got {heartbeat_timeout}")
        self.heartbeat_timeout = heartbeat_timeout
        self._sources: dict[Hashable, tuple[bool, float]] = {}  # source -> (asserted, last heard)
        self._names: dict[Hashable, str] = {}                   # source -> how a person knows it

    def update(self, source: Hashable, asserted: bool, now: float, name: str | None = None) -> None:
        """`name`: who the source is, for messages (e.g. its ROS node); defaults to the key."""
        key = source if self.heartbeat_timeout is not None else "any"
        self._sources[key] = (bool(asserted), float(now))
        if name or key not in self._names:
            self._names[key] = name or str(source)

    def name(self, source: Hashable) -> str:
        return self._names.get(source, str(source))

    def asserting(self) -> list[str]:
        """Names of the sources whose last message said True."""
        return [self.name(s) for s, (asserted, _) in self._sources.items() if asserted]

    @property
    def asserted(self) -> bool:
        return any(asserted for asserted, _ in self._sources.values())

    @property
    def sources(self) -> int:
        return len(self._sources)

    def silent(self, now: float) -> list[tuple[Hashable, float]]:
        """(source, seconds since heard) of every source past the heartbeat timeout."""
        if self.heartbeat_timeout is None:
            return []
        return [(s, now - t) for s, (_, t) in self._sources.items() if now - t > self.heartbeat_timeout]

    def heartbeat_reason(self, now: float) -> str | None:
        """Why the heartbeat counts as lost, or None while every source is heard in time."""
        if self.heartbeat_timeout is None:
            return None
        if not self._sources:
            return "no e-stop heartbeat on /safety/estop (start an e-stop source, e.g. estop_node)"
        silent = self.silent(now)
        if silent:
            age = max(a for _, a in silent)
            names = ", ".join(self.name(s) for s, _ in silent)
            return (f"e-stop heartbeat lost: {len(silent)} of {len(self._sources)} source(s) silent ({names}) "
                    f"for {age:.3f} s (limit {self.heartbeat_timeout:.3f} s)")
        return None

    def forget_silent(self, now: float) -> int:
        """Drop sources past the timeout (an operator's reset acknowledges they are gone)."""
        silent = [s for s, _ in self.silent(now)]
        for source in silent:
            del self._sources[source]
            self._names.pop(source, None)
        return len(silent)
