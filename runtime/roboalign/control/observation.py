"""ObservationAssembler: the one place where sensor streams become a policy's Observation.

Used by the direct control loop (roboalign.control.loop) and by the ROS policy node alike, so
a policy sees the same thing whichever path runs it. Given the newest joint state, the newest
frame of each camera (each with its capture time), the instruction and, for a simulator's
scripted expert only, privileged ground truth, it either returns an Observation or a Refusal
that names the stream at fault. Checks, in this order (the first failure is reported):

1. missing: joints, a camera the policy uses, the instruction, or privileged state the
   assembler was built to require;
2. invalid: joints that do not cover the policy's RobotSpec by name, or non-finite positions;
3. frozen: a stream that keeps delivering messages whose capture time does not advance (a
   driver republishing its last frame, a camera whose clock stopped), as a FreezeWatch fed
   with every arriving message says (the ROS policy node feeds one from its subscribers; a
   stream nobody reports arrivals for is never judged frozen, its age still is);
4. stale: a stream whose capture time is more than `max_age_s` before `now` (the oldest such
   stream is named): also what a stream that stopped arriving (a camera unplugged) becomes;
5. skewed: streams captured more than `max_skew_s` apart (the oldest stream is named, with
   the newest it lags), so a policy never pairs an image with joints from another moment.

Every check looks at the newest inputs only, so a refusal lifts by itself as soon as the
stream at fault delivers fresh, advancing samples again.

Joints are reordered by name into the policy's RobotSpec order (a sensor_msgs/JointState may
list them in any order). Privileged state is passed on only when the assembler was built with
`privileged=True`; otherwise it is dropped, so a learned policy never sees it. A frame that
carries intrinsics passes its camera matrix on (Observation.intrinsics).

Times: seconds on one clock (ROS time in the nodes, the robot's clock in the direct loop).
"""
from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence

import numpy as np

from roboalign.core.camera import Frame
from roboalign.core.observation import Observation
from roboalign.core.robot import JointState, RobotSpec

JOINTS = "joints"
INSTRUCTION = "instruction"
PRIVILEGED = "privileged"


class RefusalReason(str, enum.Enum):
    MISSING = "missing"    # a stream has delivered nothing (since the last reset)
    INVALID = "invalid"    # a stream delivered something unusable (joint names, NaN)
    FROZEN = "frozen"      # a stream delivers, but its capture time does not advance
    STALE = "stale"        # a stream's newest sample is older than max_age_s
    SKEWED = "skewed"      # streams captured too far apart


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why no Observation could be built now: the reason and the stream at fault."""

    reason: RefusalReason
    stream: str   # "joints", a camera name, "instruction" or "privileged"
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value} {self.stream}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class Privileged:
    """Simulation-only ground truth (e.g. object positions, metres) and when it was sampled."""

    values: Mapping[str, np.ndarray]
    capture_time: float


class FreezeWatch:
    """Notices streams that keep delivering without advancing: `frozen_after` messages in a
    row whose capture time is not newer than the newest seen. One that advances clears it."""

    def __init__(self, frozen_after: int = 3) -> None:
        if frozen_after < 1:
            raise ValueError(f"FreezeWatch: frozen_after must be at least 1, got {frozen_after}")
        self.frozen_after = int(frozen_after)
        self._newest: dict[str, float] = {}   # stream -> newest capture time that arrived
        self._repeats: dict[str, int] = {}    # stream -> messages in a row that did not advance it

    def arrived(self, stream: str, capture_time: float) -> None:
        """A message of `stream` arrived stamped `capture_time` (call from the subscriber)."""
        newest = self._newest.get(stream)
        if newest is None or capture_time > newest:
            self._newest[stream] = float(capture_time)
            self._repeats[stream] = 0
        else:
            self._repeats[stream] = self._repeats.get(stream, 0) + 1

    def frozen(self, stream: str) -> str | None:
        """Why `stream` counts as frozen, or None."""
        repeats = self._repeats.get(stream, 0)
        if repeats < self.frozen_after:
            return None
        return (f"its last {repeats} messages repeat capture time {self._newest[stream]:.3f} s or go back in time "
                "(a driver resending an old frame?)")

    def clear(self) -> None:
        """Start counting afresh (an episode reset)."""
        self._newest.clear()
        self._repeats.clear()


class ObservationAssembler:
    """Builds Observations for a policy driving `spec` with `cameras`.

    max_age_s: the most a stream's capture time may lag `now` (s).
    max_skew_s: the most the capture times of the streams may differ from each other (s).
    privileged: require privileged state and pass it on (scripted expert in the sim only).
    freeze: the FreezeWatch that message arrivals are reported to (None: no frozen check).
    """

    def __init__(self, spec: RobotSpec, cameras: Sequence[str] = (), max_age_s: float = 0.5,
                 max_skew_s: float = 0.5, privileged: bool = False, freeze: FreezeWatch | None = None) -> None:
        for name, value in (("max_age_s", max_age_s), ("max_skew_s", max_skew_s)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"ObservationAssembler: {name} must be a positive number of seconds, got {value}")
        cameras = tuple(cameras)
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"ObservationAssembler: camera names repeat in {cameras}")
        if {JOINTS, INSTRUCTION, PRIVILEGED} & set(cameras):
            raise ValueError(f"ObservationAssembler: {JOINTS!r}, {INSTRUCTION!r}, {PRIVILEGED!r} cannot name a camera")
        self.spec = spec
        self.cameras = cameras
        self.max_age_s = float(max_age_s)
        self.max_skew_s = float(max_skew_s)
        self.privileged = bool(privileged)
        self.freeze = freeze

    def assemble(
        self,
        now: float,
        joints: JointState | None,
        frames: Mapping[str, Frame | None],
        instruction: str | None,
        privileged: Privileged | None = None,
    ) -> Observation | Refusal:
        """An Observation stamped `now`, or the Refusal saying which stream is at fault."""
        now = float(now)
        if not math.isfinite(now):
            raise ValueError(f"ObservationAssembler.assemble: now must be finite seconds, got {now}")
        # 1. missing
        if joints is None:
            return Refusal(RefusalReason.MISSING, JOINTS, "no joint state received")
        for camera in self.cameras:
            if frames.get(camera) is None:
                return Refusal(RefusalReason.MISSING, camera, "no frame received")
        if not instruction:
            return Refusal(RefusalReason.MISSING, INSTRUCTION, "no task instruction")
        if self.privileged and privileged is None:
            return Refusal(RefusalReason.MISSING, PRIVILEGED, "no privileged sim state (the scripted expert needs it)")
        # 2. invalid
        ordered = self._order(joints)
        if isinstance(ordered, Refusal):
            return ordered
        positions, velocities = ordered
        # 3. frozen
        if self.freeze is not None:
            for stream in [JOINTS, *self.cameras] + ([PRIVILEGED] if self.privileged else []):
                why = self.freeze.frozen(stream)
                if why is not None:
                    return Refusal(RefusalReason.FROZEN, stream, why)
        # 4. stale, 5. skewed
        capture = {JOINTS: float(joints.capture_time)}
        capture.update({c: float(frames[c].capture_time) for c in self.cameras})
        if self.privileged:
            capture[PRIVILEGED] = float(privileged.capture_time)
        for stream, t in capture.items():
            if not math.isfinite(t):
                return Refusal(RefusalReason.INVALID, stream, f"capture time {t} is not a number of seconds")
        oldest = min(capture, key=capture.__getitem__)
        newest = max(capture, key=capture.__getitem__)
        age = now - capture[oldest]
        if age > self.max_age_s:
            return Refusal(RefusalReason.STALE, oldest, f"captured {age:.3f} s ago (max {self.max_age_s:.3f} s)")
        skew = capture[newest] - capture[oldest]
        if skew > self.max_skew_s:
            return Refusal(RefusalReason.SKEWED, oldest,
                           f"captured {skew:.3f} s before {newest} (max skew {self.max_skew_s:.3f} s)")
        return Observation(
            images={c: frames[c].image for c in self.cameras},
            joint_positions=positions,
            joint_velocities=velocities,
            instruction=instruction,
            timestamp=now,
            capture_times=capture,
            privileged=dict(privileged.values) if self.privileged else {},
            intrinsics={c: frames[c].intrinsics.matrix() for c in self.cameras if frames[c].intrinsics is not None},
        )

    def _order(self, joints: JointState) -> tuple[np.ndarray, np.ndarray | None] | Refusal:
        """Positions (and velocities) in the spec's joint order, or an INVALID refusal."""
        names = self.spec.joint_names
        if joints.names == names:
            positions, velocities = joints.positions, joints.velocities
        else:
            index = {n: i for i, n in enumerate(joints.names)}
            absent = [n for n in names if n not in index]
            if absent:
                return Refusal(RefusalReason.INVALID, JOINTS,
                               f"joint state lacks {', '.join(absent)} (has {', '.join(joints.names) or 'none'})")
            take = np.array([index[n] for n in names])
            positions = joints.positions[take]
            velocities = None if joints.velocities is None else joints.velocities[take]
        bad = np.flatnonzero(~np.isfinite(positions))
        if bad.size:
            return Refusal(RefusalReason.INVALID, JOINTS, "non-finite positions on " + ", ".join(names[i] for i in bad))
        if velocities is not None and not np.all(np.isfinite(velocities)):
            velocities = None  # a velocity glitch must not cost the call: positions are what a policy needs
        return positions.copy(), None if velocities is None else velocities.copy()
