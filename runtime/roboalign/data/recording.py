"""One demonstration episode as one MCAP file, written crash-safe (no ROS needed).

    writer = EpisodeWriter.open(folder, index=7, metadata=RecordingMetadata(robot="sim", ...))
    writer.write("/joint_states", JOINT_STATE, {"header": ..., "name": [...], "position": [...]}, t_ns)
    writer.write("/camera/front/image_raw", IMAGE, raw_cdr_bytes, t_ns, stamp_ns)   # a subscription's bytes
    writer.end(t_ns)                      # no more messages; the episode is complete on disk
    path = writer.seal("success")         # -> folder/episode_000007.mcap

File layout and crash behaviour (docs/data.md, "Recording"):

- While recording the file is `episode_000007.mcap.active`. Messages go into MCAP chunks (zstd);
  a chunk is closed, written and fsynced when it reaches `chunk_bytes` or is `flush_period_s`
  old (checked on every message and by flush_if_due from the caller's timer), so a SIGKILL or
  power cut loses at most the last `flush_period_s` of data.
- Channels carry ROS 2 CDR with rosbag2-style `ros2msg` schemas (roboalign.data.ros_schemas),
  so `ros2 bag info`, Foxglove and mcap_ros2 open the files. Topic names are the graph's own.
- Metadata records: `roboalign.episode` at the start (robot, cameras, calibration ids, operator,
  notes, task, which topic plays which role), `roboalign.ended` when recording stops,
  `roboalign.outcome` (success flag, outcome) when the episode is sealed. Every record holds its
  fields as strings (readable in any MCAP tool) and all of them as JSON under `json`.
- seal(): outcome record, summary and footer, fsync, atomic rename to `episode_000007.mcap`,
  fsync of the folder. discard(): the temporary file is deleted.
A torn `.active` file is repaired or quarantined by roboalign.data.recording_reader.recover_active.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mcap.well_known import MessageEncoding, SchemaEncoding
from mcap.writer import CompressionType, Writer

from roboalign.data.ros_schemas import SCHEMAS

FORMAT_VERSION = 1
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
JOINT_STATE = "sensor_msgs/msg/JointState"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
STRING = "std_msgs/msg/String"
BOOL = "std_msgs/msg/Bool"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"

EPISODE_RECORD = "roboalign.episode"
ENDED_RECORD = "roboalign.ended"
OUTCOME_RECORD = "roboalign.outcome"
RECOVERY_RECORD = "roboalign.recovery"
OUTCOMES = ("success", "failure", "unmarked")

ACTIVE_SUFFIX = ".mcap.active"
_NAME = re.compile(r"^episode_(\d{6})(\.partial)?\.mcap(\.active)?$")


def episode_file(folder: Path, index: int, partial: bool = False) -> Path:
    return folder / f"episode_{index:06d}{'.partial' if partial else ''}.mcap"


def active_file(folder: Path, index: int) -> Path:
    return folder / f"episode_{index:06d}{ACTIVE_SUFFIX}"


def episode_index(path: Path) -> int | None:
    """7 for episode_000007.mcap, .partial.mcap or .mcap.active; None for other names."""
    m = _NAME.match(path.name)
    return int(m.group(1)) if m else None


@dataclasses.dataclass
class RecordingMetadata:
    """What is known when an episode starts. `streams` says which topic plays which role, so a
    reader needs no graph: {"joints": "/joint_states", "actions": "/arm/command_raw",
    "cameras": {"front": "/camera/front/image_raw"}, "instruction": "/task/instruction"}."""

    robot: str = ""                     # a name (sim, fr3, ...)
    robot_spec: dict[str, Any] | None = None  # RobotSpec.to_dict() of the arm, when known
    cameras: list[str] = dataclasses.field(default_factory=list)
    calibration: dict[str, str] = dataclasses.field(default_factory=dict)   # camera/arm -> calibration id
    operator: str = ""
    notes: str = ""
    task: str = ""                      # what the operator said is demonstrated (a family or an instruction)
    driver: str = ""                    # expert, teleop, policy name
    seed: int | None = None
    policy_rate_hz: float = 10.0        # the rate load_recording resamples to by default
    streams: dict[str, Any] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The simulator's task of this episode, roboalign.sim.tasks.TaskInfo.to_dict() ({instruction,
    # family, target, seed, pad_position}) as the sim node latches it on /task/info; None on a real
    # robot. load_recording returns it as Episode.metadata["task"], the shape `sim demos` folders have.
    sim_task: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def record_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """An MCAP metadata record's str -> str map: each field as text, and all of them as JSON."""
    out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    out["json"] = json.dumps(dict(values))
    return out


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EpisodeWriter:
    """One episode file. Not thread-safe: one thread writes (the recorder node's executor)."""

    def __init__(self, path: Path, final: Path, metadata: RecordingMetadata, index: int,
                 chunk_bytes: int = 1 << 20, flush_period_s: float = 1.0, compression: str = "zstd",
                 fsync: bool = True) -> None:
        self.path, self.final, self.index = path, final, index
        self.metadata = metadata
        self.flush_period_s = float(flush_period_s)
        self.fsync = fsync
        self.messages = 0
        self.bytes_in = 0
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self._file = open(path, "xb")  # never overwrite: an .active of the same name means a crash to recover
        self._mcap = Writer(self._file, chunk_size=chunk_bytes,
                            compression={"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
                                         "none": CompressionType.NONE}[compression])
        self._mcap.start(profile="ros2", library="roboalign")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._encoders: dict[str, Any] = {}
        self._last_flush = time.monotonic()
        self._closed = False
        self._mcap.add_metadata(EPISODE_RECORD, record_fields({"format_version": FORMAT_VERSION, "index": index,
                                                               **metadata.to_dict()}))
        self._sync()

    @classmethod
    def open(cls, folder: str | Path, index: int, metadata: RecordingMetadata, **kwargs: Any) -> EpisodeWriter:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(active_file(folder, index), episode_file(folder, index), metadata, index, **kwargs)

    # ---- messages -----------------------------------------------------------------------------
    def channel(self, topic: str, schema: str) -> int:
        """The channel id of `topic` (registered with its schema on first use)."""
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != schema:
                raise ValueError(f"{topic}: recorded as {known[1]}, now given as {schema}")
            return known[0]
        if schema not in self._schemas:
            if schema not in SCHEMAS:
                raise ValueError(f"no message definition for {schema} (known: {sorted(SCHEMAS)})")
            self._schemas[schema] = self._mcap.register_schema(schema, SchemaEncoding.ROS2, SCHEMAS[schema].encode())
        cid = self._mcap.register_channel(topic, MessageEncoding.CDR, self._schemas[schema])
        self._channels[topic] = (cid, schema)
        return cid

    def write(self, topic: str, schema: str, message: bytes | Mapping[str, Any] | Any, log_time_ns: int,
              publish_time_ns: int | None = None) -> None:
        """One message: CDR bytes as a ROS subscription delivers them (raw=True), or a dict / a
        ROS message object, encoded here. log_time: when it was received; publish_time: its
        header stamp (the capture time), defaulting to log_time. Both ns on the graph's clock."""
        if self._closed or self.end_ns is not None:
            raise RuntimeError(f"{self.path.name}: the episode has ended; no more messages")
        cid = self.channel(topic, schema)
        if isinstance(message, (bytes, bytearray, memoryview)):
            data = bytes(message)
        else:
            data = self._encoder(schema)(message)
        publish = log_time_ns if publish_time_ns is None else publish_time_ns
        self._mcap.add_message(channel_id=cid, log_time=int(log_time_ns), publish_time=int(publish), data=data)
        self.messages += 1
        self.bytes_in += len(data)
        self.start_ns = int(log_time_ns) if self.start_ns is None else min(self.start_ns, int(log_time_ns))
        self.flush_if_due()

    def _encoder(self, schema: str):
        enc = self._encoders.get(schema)
        if enc is None:
            from mcap_ros2._dynamic import serialize_dynamic  # what mcap_ros2.writer.Writer encodes with

            enc = self._encoders[schema] = serialize_dynamic(schema, SCHEMAS[schema])[schema]
        return enc

    def flush_if_due(self) -> bool:
        """Write and fsync the chunk in progress if it is flush_period_s old: call it from a
        timer too, so a stream that goes quiet is on disk within that period all the same."""
        if self._closed or time.monotonic() - self._last_flush < self.flush_period_s:
            return False
        self._sync()
        return True

    def _sync(self) -> None:
        """Close the chunk in progress and put everything on disk: what a crash cannot lose."""
        self._mcap.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    # ---- the end --------------------------------------------------------------------------------
    def end(self, end_ns: int) -> None:
        """Recording stopped: no more messages. The episode is complete on disk (even if the
        process dies before seal, recovery keeps it whole, outcome unmarked)."""
        if self.end_ns is None:
            self.end_ns = int(end_ns)
            self._mcap.add_metadata(ENDED_RECORD, record_fields({"end_ns": self.end_ns, "messages": self.messages}))
            self._sync()

    def seal(self, outcome: str, end_ns: int | None = None, extra: Mapping[str, Any] | None = None) -> Path:
        """Outcome record, summary, fsync, atomic rename to episode_NNNNNN.mcap; returns it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.end(end_ns if end_ns is not None else time.time_ns())
        success = {"success": True, "failure": False}.get(outcome)
        self._mcap.add_metadata(OUTCOME_RECORD, record_fields({"outcome": outcome, "success": success,
                                                               "sealed_ns": time.time_ns(), **(extra or {})}))
        self._mcap.finish()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._closed = True
        if self.final.exists():
            raise FileExistsError(f"{self.final} exists; the episode stays at {self.path}")
        os.rename(self.path, self.final)
        fsync_dir(self.final.parent)
        return self.final

    def discard(self) -> None:
        """Drop the episode: close and delete its temporary file."""
        if not self._closed:
            self._file.close()
            self._closed = True
        self.path.unlink(missing_ok=True)
        fsync_dir(self.path.parent)

    def abandon(self) -> None:
        """Close without sealing (a process shutting down mid-episode): the `.active` file stays
        for recover_active, exactly as a crash would leave it, but with every chunk written."""
        if not self._closed:
            self._sync()
            self._file.close()
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
