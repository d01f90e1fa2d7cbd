"""recorder_node: records the graph's topics into one crash-safe MCAP file per episode.

  /joint_states                 (JointState, sensor QoS)           in: measured joints
  /camera/<name>/image_raw      (Image, sensor QoS; or .../compressed, CompressedImage)   in
  /arm/command_raw              (JointTrajectory, reliable)        in: the safety node's input (actions)
  /arm/command                  (JointTrajectory, reliable)        in: the safety node's output
  /safety/stopped, /safety/estop (Bool, latched)                   in: safety and e-stop events
  /safety/state                 (DiagnosticArray)                  in: the safety filter's state
  /task/instruction             (String, latched)                  in: the instruction
  /sim/success                  (Bool, latched)                    in: the sim's success test (when present)
  /task/info                    (String JSON, latched)             in: the sim's task (seed, family, target,
                                ...; sim_node), stored as the episode metadata's sim_task; absent on a robot
  /recorder/command             (std_msgs/String, reliable)        in: start | stop | discard | success | failure
  /recorder/status              (std_msgs/String JSON, reliable + transient_local, status_rate_hz)   out

Status JSON keys: state (idle | recording | stopped), episode_index (the episode being written,
else the next one), episode_count (sealed this session), duration_s (current episode),
last_durations_s (sealed episodes, newest last, at most 20), dropped_frames (topic -> frames
missing from the header-stamp sequence, this episode), stream_rates_hz (topic -> messages/s over
the last 2 s), output_dir; and also: accepted + message (the answer to the last command),
last_command, outcomes (newest last), discarded, instruction, estop, safety_stopped,
recovered (lines about `.active` files found at start), messages (written this episode).

Messages are written as the subscription delivers them (raw CDR, no decode/encode) by
roboalign.data.session.RecordingSession, which owns the file format and the state machine;
this node is only the wiring. Latched topics (instruction, e-stop, safety stop, sim success)
are written again at each episode start, so every episode holds their value at its start.
"""
from __future__ import annotations

import collections
import json
import struct
import threading
import time
from typing import Any

from rclpy.node import Node
from rclpy.serialization import deserialize_message
from std_msgs.msg import Bool, String

from roboalign.data.recording import (
    BOOL,
    COMPRESSED_IMAGE,
    DIAGNOSTIC_ARRAY,
    IMAGE,
    JOINT_STATE,
    JOINT_TRAJECTORY,
    STRING,
    RecordingMetadata,
)
from roboalign.data.session import RecordingSession
from roboalign_ros import qos
from roboalign_ros.params import declare, load_robot_spec, refuse_undeclared, spin_node

RATE_WINDOW_S = 2.0
_HAS_STAMP = (IMAGE, COMPRESSED_IMAGE, JOINT_STATE, JOINT_TRAJECTORY, DIAGNOSTIC_ARRAY)


def header_stamp_ns(data: bytes) -> int | None:
    """The header stamp of a CDR message whose first field is std_msgs/Header (no decode)."""
    if len(data) < 12:
        return None
    sec, nanosec = struct.unpack_from("<iI" if data[1] == 1 else ">iI", data, 4)  # after the 4-byte encapsulation
    return sec * 1_000_000_000 + nanosec


class _Stream:
    """Arrival rate and missing frames (gaps in the stamp sequence) of one topic."""

    def __init__(self) -> None:
        self.arrivals: collections.deque = collections.deque()
        self.intervals: collections.deque = collections.deque(maxlen=20)
        self.last_stamp: int | None = None
        self.dropped = 0

    def seen(self, now: float, stamp: int | None, count_gaps: bool) -> None:
        self.arrivals.append(now)
        while self.arrivals and now - self.arrivals[0] > RATE_WINDOW_S:
            self.arrivals.popleft()
        if stamp is None:
            return
        if self.last_stamp is not None and stamp > self.last_stamp:
            gap = stamp - self.last_stamp
            if count_gaps and len(self.intervals) >= 5:
                period = sorted(self.intervals)[len(self.intervals) // 2]
                if gap > 1.8 * period:
                    self.dropped += int(round(gap / period)) - 1
            self.intervals.append(gap)
        self.last_stamp = stamp

    def rate(self, now: float) -> float:
        recent = [t for t in self.arrivals if now - t <= RATE_WINDOW_S]
        return round(len(recent) / RATE_WINDOW_S, 2)


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        output_dir = declare(self, "output_dir", "recordings", "folder of the episode files (created if missing)")
        cameras = list(declare(self, "cameras", ["front"], "cameras recorded from /camera/<name>/image_raw"))
        compressed = list(declare(self, "compressed_cameras", [], "cameras recorded from "
                                  "/camera/<name>/image_raw/compressed (CompressedImage) instead"))
        robot = declare(self, "robot", "sim", "sim or a RobotSpec YAML path (its name and spec go into the metadata)")
        self.meta_fields = {
            "operator": declare(self, "operator", "", "who drives (metadata)"),
            "notes": declare(self, "notes", "", "free text (metadata)"),
            "task": declare(self, "task", "", "task family or instruction being demonstrated (metadata)"),
            "driver": declare(self, "driver", "", "expert, teleop or a policy name (metadata)"),
        }
        calibration = declare(self, "calibration_ids", [], "NAME=ID pairs, e.g. front=cam-2026-11-30 (metadata)")
        self.policy_rate_hz = declare(self, "policy_rate_hz", 10.0, "rate episodes are resampled to when read (Hz)",
                                      low=0.5, high=1000.0)
        status_rate = declare(self, "status_rate_hz", 2.0, "rate of /recorder/status (Hz)", low=0.1, high=50.0)
        chunk_kb = declare(self, "chunk_kb", 1024, "KB of messages per MCAP chunk", low=16, high=1 << 20)
        flush_period = declare(self, "flush_period_s", 1.0, "s: a crash loses at most this much (chunk close + fsync)",
                               low=0.05, high=60.0)
        record_chunks = declare(self, "record_policy_chunks", True, "also record /policy/chunk (the policy's plans)")
        refuse_undeclared(self)
        bad = [c for c in calibration if "=" not in c]
        if bad:
            raise ValueError(f"calibration_ids: expected NAME=ID, got {bad}")
        self.calibration = dict(c.split("=", 1) for c in calibration)
        self.spec = load_robot_spec(robot)
        self.robot = self.spec.name
        self.cameras = cameras + [c for c in compressed if c not in cameras]
        self._lock = threading.Lock()  # commands may come from another thread (roboalign record)
        self._extra: dict[str, Any] = {}
        self._start_ns = 0  # graph clock (ns) at the current episode's start
        self.streams: dict[str, _Stream] = {}
        self._latched: dict[str, tuple[str, bytes, int]] = {}
        self.instruction = ""
        self.sim_task: dict[str, Any] | None = None  # the latest /task/info (sim only)
        self.estop: bool | None = None
        self.safety_stopped: bool | None = None
        self.last = {"accepted": True, "message": "", "last_command": ""}
        self.topics = {"joints": "/joint_states", "actions": "/arm/command_raw", "commands": "/arm/command",
                       "instruction": "/task/instruction",
                       "cameras": {c: f"/camera/{c}/image_raw" + ("/compressed" if c in compressed else "")
                                   for c in self.cameras}}
        self.session = RecordingSession(output_dir, self._metadata, clock_ns=lambda: self.get_clock().now().nanoseconds,
                                        chunk_bytes=chunk_kb * 1024, flush_period_s=flush_period)
        for line in self.session.recovered:
            self.get_logger().warning(line)
        self._subscribe(self.topics["joints"], JOINT_STATE, qos.SENSOR, gaps=True)
        for cam, topic in self.topics["cameras"].items():
            self._subscribe(topic, COMPRESSED_IMAGE if cam in compressed else IMAGE, qos.SENSOR, gaps=True)
        self._subscribe("/arm/command_raw", JOINT_TRAJECTORY, qos.COMMAND)
        self._subscribe("/arm/command", JOINT_TRAJECTORY, qos.COMMAND)
        if record_chunks:
            self._subscribe("/policy/chunk", JOINT_TRAJECTORY, qos.COMMAND)
        self._subscribe("/safety/state", DIAGNOSTIC_ARRAY, qos.STATE)
        for topic, schema in (("/safety/stopped", BOOL), ("/safety/estop", BOOL), ("/task/instruction", STRING),
                              ("/task/info", STRING), ("/sim/success", BOOL)):
            self._subscribe(topic, schema, qos.LATCHED, latched=True)
        self._status_pub = self.create_publisher(String, "/recorder/status", qos.LATCHED)
        self.create_subscription(String, "/recorder/command", lambda msg: self.command(msg.data.strip()), qos.COMMAND)
        self.create_timer(1.0 / status_rate, self.publish_status)
        self.create_timer(flush_period / 2.0, self._flush)
        self.publish_status()

    # ---- wiring ---------------------------------------------------------------------------
    def _subscribe(self, topic: str, schema: str, profile, gaps: bool = False, latched: bool = False) -> None:
        self.streams[topic] = _Stream()
        self.create_subscription(_message_class(schema), topic,
                                 lambda data, t=topic, s=schema: self._on_message(t, s, data, gaps, latched),
                                 profile, raw=True)

    def _on_message(self, topic: str, schema: str, data: bytes, gaps: bool, latched: bool) -> None:
        now_ns = self.get_clock().now().nanoseconds
        stamp = header_stamp_ns(data) if schema in _HAS_STAMP else None
        if latched:
            self._note_latched(topic, data)
        with self._lock:
            self.streams[topic].seen(time.monotonic(), stamp, gaps and self.session.state == "recording")
            if latched:
                self._latched[topic] = (schema, data, now_ns)
            # captured before the episode started (in flight across a sim reset): not this episode's
            if self.session.state == "recording" and (stamp is None or stamp >= self._start_ns):
                self.session.writer.write(topic, schema, data, now_ns, stamp)

    def _note_latched(self, topic: str, data: bytes) -> None:
        if topic == "/task/instruction":
            self.instruction = deserialize_message(data, String).data
        elif topic == "/task/info":
            info = json.loads(deserialize_message(data, String).data)
            self.sim_task = info if isinstance(info, dict) else None
        elif topic == "/safety/estop":
            self.estop = deserialize_message(data, Bool).data
        elif topic == "/safety/stopped":
            self.safety_stopped = deserialize_message(data, Bool).data

    def _metadata(self) -> RecordingMetadata:
        return RecordingMetadata(
            robot=self.robot, robot_spec=self.spec.to_dict(), cameras=list(self.cameras), calibration=self.calibration,
            policy_rate_hz=self.policy_rate_hz, streams=self.topics, extra={"instruction": self.instruction, **self._extra},
            seed=self._extra.get("seed"), sim_task=self.sim_task, **self.meta_fields)

    def _flush(self) -> None:
        with self._lock:
            if self.session.writer is not None:
                self.session.writer.flush_if_due()

    # ---- commands and status --------------------------------------------------------------
    def annotate(self, **fields: Any) -> None:
        """Extra metadata for the episodes started from now on (roboalign record: the seed)."""
        with self._lock:
            self._extra.update(fields)

    def command(self, word: str) -> dict[str, Any]:
        """Apply start | stop | discard | success | failure (thread-safe); returns the status."""
        with self._lock:
            answer = self.session.command(word)
            if answer.accepted and word == "start":
                now_ns = self._start_ns = self.get_clock().now().nanoseconds
                for stream in self.streams.values():
                    stream.dropped, stream.last_stamp = 0, None
                for topic, (schema, data, _) in self._latched.items():  # their value at the episode's start
                    self.session.writer.write(topic, schema, data, now_ns, now_ns)
            self.last = {"accepted": answer.accepted, "message": answer.message, "last_command": word}
        (self.get_logger().info if answer.accepted else self.get_logger().warning)(f"{word}: {answer.message}")
        return self.publish_status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            s = self.session
            writer = s.writer
            return {
                "state": s.state,
                "episode_index": writer.index if writer is not None else s.next_index,
                "episode_count": len(s.sealed),
                "duration_s": round(s.duration_s(), 3),
                "last_durations_s": [round(e.duration_s, 3) for e in s.sealed[-20:]],
                "dropped_frames": {t: st.dropped for t, st in self.streams.items() if st.last_stamp is not None},
                "stream_rates_hz": {t: st.rate(now) for t, st in self.streams.items()},
                "output_dir": str(s.folder.resolve()),
                **self.last,
                "outcomes": [e.outcome for e in s.sealed[-20:]],
                "discarded": s.discarded,
                "instruction": self.instruction,
                "estop": self.estop,
                "safety_stopped": self.safety_stopped,
                "recovered": list(s.recovered),
                "messages": writer.messages if writer is not None else 0,
            }

    def publish_status(self) -> dict[str, Any]:
        status = self.status()
        self._status_pub.publish(String(data=json.dumps(status)))
        return status

    def close(self) -> None:
        """Seal a stopped episode (unmarked); a recording one is kept as a flagged partial."""
        with self._lock:
            line = self.session.close()
        if line:
            self.get_logger().warning(line)


def _message_class(schema: str) -> type:
    package, _, name = schema.split("/")
    module = __import__(f"{package}.msg", fromlist=[name])
    return getattr(module, name)


def main(args=None) -> int:
    return spin_node(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
