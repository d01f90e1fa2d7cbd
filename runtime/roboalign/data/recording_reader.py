"""Reading recorded episodes (roboalign.data.recording) back, and repairing torn ones.

    episode = load_recording("demos/episode_000003.mcap")        # Episode at the policy rate
    paths = find_recordings("demos")                             # sealed, non-partial episodes
    result = recover_active(Path("demos/episode_000004.mcap.active"))
    torn = find_active("demos")                                  # `.active` files not yet recovered

Files are read front to back with mcap's StreamReader (the non-summary path), so the same code
reads a sealed file and one torn by SIGKILL: a torn file yields every complete chunk and stops
at the first incomplete record. recover_active copies what a torn `.active` file holds into a
sealed `episode_NNNNNN.partial.mcap` flagged `partial: true` (left out of find_recordings and
exports unless asked for), or, when nothing usable is in it, moves it to `quarantine/` with a
`.txt` that says why. An `.active` file whose episode had ended (stopped, not yet marked) is
recovered whole as `episode_NNNNNN.mcap`, outcome unmarked.
"""
from __future__ import annotations

import dataclasses
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
from mcap.exceptions import McapError
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.well_known import MessageEncoding, SchemaEncoding
from mcap.writer import CompressionType, Writer

from roboalign.data.episode import Episode
from roboalign.data.recording import (
    ACTIVE_SUFFIX,
    ENDED_RECORD,
    EPISODE_RECORD,
    OUTCOME_RECORD,
    RECOVERY_RECORD,
    episode_file,
    episode_index,
    fsync_dir,
    record_fields,
)

QUARANTINE = "quarantine"


@dataclasses.dataclass
class Recording:
    """Everything in one file. messages: topic -> [(log_time_ns, publish_time_ns, decoded)];
    schemas: topic -> schema name; metadata: record name -> fields (from its `json`, the last
    record of each name wins); torn: the file ended before its footer."""

    path: Path
    messages: dict[str, list[tuple[int, int, Any]]]
    schemas: dict[str, str]
    metadata: dict[str, dict[str, Any]]
    torn: bool
    problem: str = ""

    @property
    def episode_metadata(self) -> dict[str, Any]:
        return self.metadata.get(EPISODE_RECORD, {})

    @property
    def outcome(self) -> dict[str, Any]:
        return self.metadata.get(OUTCOME_RECORD, {})

    @property
    def partial(self) -> bool:
        return bool(self.metadata.get(RECOVERY_RECORD, {}).get("partial", False))


def _fields(record: Metadata) -> dict[str, Any]:
    text = record.metadata.get("json")
    return json.loads(text) if text is not None else dict(record.metadata)


def iter_records(path: Path):
    """(records, torn, problem): every record up to the end or the first incomplete one."""
    out, torn, problem = [], False, ""
    with open(path, "rb") as f:
        try:
            for record in StreamReader(f, record_size_limit=1 << 30).records:
                out.append(record)
        except (McapError, EOFError, ValueError, OSError, MemoryError, struct.error) as exc:  # a record cut by a crash
            torn, problem = True, f"{type(exc).__name__}: {exc}"
    return out, torn, problem


def read_recording(path: str | Path, decode: bool = True) -> Recording:
    """Every message and metadata record of a file, sealed or torn (decode=False: raw CDR)."""
    from mcap_ros2.decoder import DecoderFactory

    path = Path(path)
    records, torn, problem = iter_records(path)
    factory = DecoderFactory()
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    decoders: dict[int, Any] = {}
    messages: dict[str, list] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for r in records:
        if isinstance(r, Schema):
            schemas[r.id] = r
        elif isinstance(r, Channel):
            channels[r.id] = r
            messages.setdefault(r.topic, [])
        elif isinstance(r, Metadata):
            metadata[r.name] = _fields(r)
        elif isinstance(r, Message):
            channel = channels[r.channel_id]
            value: Any = r.data
            if decode:
                if r.channel_id not in decoders:
                    decoders[r.channel_id] = factory.decoder_for(channel.message_encoding, schemas.get(channel.schema_id))
                value = decoders[r.channel_id](r.data)
            messages[channel.topic].append((r.log_time, r.publish_time, value))
    names = {c.topic: schemas[c.schema_id].name for c in channels.values() if c.schema_id in schemas}
    return Recording(path, messages, names, metadata, torn, problem)


# ---- Episode ----------------------------------------------------------------------------------
def _image(msg: Any, schema: str) -> np.ndarray:
    """uint8 [H, W, 3] RGB from an Image (rgb8, bgr8, rgba8, bgra8, mono8) or CompressedImage."""
    if schema.endswith("CompressedImage"):
        import cv2

        bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode a {msg.format!r} compressed image")
        return np.ascontiguousarray(bgr[:, :, ::-1])
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise ValueError(f"image encoding {msg.encoding!r} is not supported (rgb8, bgr8, rgba8, bgra8, mono8)")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    if msg.encoding.startswith("bgr"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


def _times(entries: list[tuple[int, int, Any]]) -> np.ndarray:
    """Sample times (ns): the publish time (header stamp = capture time) of each message."""
    return np.array([e[1] for e in entries], dtype=np.int64)


def _hold(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the newest sample at or before each grid instant (zero-order hold)."""
    return np.searchsorted(times, grid, side="right") - 1


def _joints(msg: Any, names: list[str]) -> np.ndarray:
    pos = dict(zip(msg.name, msg.position)) if msg.name else None
    return np.array([pos[n] for n in names] if pos is not None else list(msg.position), dtype=np.float64)


def _command(msg: Any, names: list[str]) -> np.ndarray:
    point = msg.points[0]  # a command is a single-point trajectory (roboalign_ros.conversions)
    if msg.joint_names:
        pos = dict(zip(msg.joint_names, point.positions))
        return np.array([pos[n] for n in names], dtype=np.float64)
    return np.array(point.positions, dtype=np.float64)


def load_recording(path: str | Path, rate_hz: float | None = None, allow_partial: bool = True,
                   images: bool = True) -> Episode:
    """The recording as an Episode resampled at `rate_hz` (default: the policy rate stored at
    recording time). Step k is at t0 + k/rate, t0 = the first instant every stream (joints, the
    action topic, each camera) has a sample; each stream contributes its newest sample at or
    before that instant (by capture time). actions = the command topic named in the metadata
    (the safety node's input: what the driver asked for). Raises ValueError for an empty or torn
    file (recover it first) or, with allow_partial=False, for a recovered partial one.
    metadata["task"]: the simulator's task dict (seed, family, target, ...) as in `sim demos`
    Episode folders when the recording has one, else the operator's task text. images=False:
    no camera frames decoded (Episode.images empty; lengths and metadata only)."""
    rec = read_recording(path)
    if rec.torn:
        raise ValueError(f"{rec.path} is torn ({rec.problem}); recover it first (recover_active)")
    meta = rec.episode_metadata
    if not meta:
        raise ValueError(f"{rec.path} has no {EPISODE_RECORD} metadata: not a RoboAlign recording")
    if rec.partial and not allow_partial:
        raise ValueError(f"{rec.path} is a recovered partial episode")
    streams = meta.get("streams", {})
    rate = float(rate_hz or meta.get("policy_rate_hz") or 10.0)
    joints_topic, action_topic = streams.get("joints", "/joint_states"), streams.get("actions", "/arm/command_raw")
    cameras = dict(streams.get("cameras", {}))  # a declared camera without frames is an error, not dropped
    needed = {"joints": joints_topic, "actions": action_topic, **{f"camera {c}": t for c, t in cameras.items()}}
    empty = [f"{role} ({topic})" for role, topic in needed.items() if not rec.messages.get(topic)]
    if empty:
        raise ValueError(f"{rec.path}: no messages on {', '.join(empty)}")
    joint_msgs = rec.messages[joints_topic]
    names = list(joint_msgs[0][2].name)
    times = {role: _times(rec.messages[topic]) for role, topic in needed.items()}
    order = {role: np.argsort(t, kind="stable") for role, t in times.items()}
    times = {role: times[role][order[role]] for role in times}
    t0 = max(int(t[0]) for t in times.values())
    t_end = int(times["joints"][-1])
    if t_end < t0:
        raise ValueError(f"{rec.path}: the streams never overlap in time")
    step_ns = 1e9 / rate
    grid = (t0 + np.arange(int((t_end - t0) // step_ns) + 1) * step_ns).astype(np.int64)
    picks = {role: order[role][_hold(times[role], grid)] for role in times}
    joints = np.stack([_joints(joint_msgs[i][2], names) for i in picks["joints"]])
    actions_msgs = rec.messages[action_topic]
    actions = np.stack([_command(actions_msgs[i][2], names) for i in picks["actions"]])
    frames_of: dict[str, np.ndarray] = {}
    for cam, topic in cameras.items() if images else ():
        msgs, schema = rec.messages[topic], rec.schemas[topic]
        decoded: dict[int, np.ndarray] = {}
        frames = []
        for i in picks[f"camera {cam}"]:
            if i not in decoded:
                decoded[i] = _image(msgs[i][2], schema)
            frames.append(decoded[i])
        frames_of[cam] = np.stack(frames)
    instruction_topic = streams.get("instruction", "/task/instruction")
    said = rec.messages.get(instruction_topic) or []
    instruction = said[-1][2].data if said else meta.get("task", "")
    outcome = rec.outcome
    metadata = {**meta, "outcome": outcome.get("outcome", "unmarked"), "success_marked": outcome.get("success"),
                "partial": rec.partial, "source": str(rec.path), "joint_names": names}
    sim_task = metadata.pop("sim_task", None)
    if sim_task:  # the Episode-folder shape: metadata["task"] = {seed, family, target, ...}
        metadata["task_declared"], metadata["task"] = metadata.get("task", ""), dict(sim_task)
    return Episode(instruction=instruction, images=frames_of, joint_positions=joints, actions=actions,
                   timestamps=(grid - t0) * 1e-9, success=bool(outcome.get("success")), dt=1.0 / rate,
                   metadata=metadata)


def find_recordings(path: str | Path, include_partial: bool = False) -> list[Path]:
    """Sealed episode files (episode_NNNNNN.mcap) in `path` or its sub-folders (one level),
    sorted; recovered partial ones (*.partial.mcap) only with include_partial. `.active` files
    (recording now, or torn) and quarantine/ are never listed."""
    root = Path(path)
    if root.is_file():
        return [root] if root.suffix == ".mcap" else []

    def listed(folder: Path) -> list[Path]:
        return sorted(p for p in folder.glob("episode_*.mcap") if episode_index(p) is not None
                      and (include_partial or not p.name.endswith(".partial.mcap")))

    found = listed(root) if root.is_dir() else []
    if not found and root.is_dir():
        found = sorted(p for d in root.iterdir() if d.is_dir() and d.name != QUARANTINE for p in listed(d))
    return found


# ---- recovery ---------------------------------------------------------------------------------
def find_active(path: str | Path) -> list[Path]:
    """`.active` files at `path` or one sub-folder down (where find_recordings looks): episodes
    being recorded right now, or torn by a crash and not recovered yet (quarantine/ excluded)."""
    root = Path(path)
    if not root.is_dir():
        return []
    found = set(root.glob(f"episode_*{ACTIVE_SUFFIX}")) | set(root.glob(f"*/episode_*{ACTIVE_SUFFIX}"))
    return sorted(p for p in found if p.parent.name != QUARANTINE and episode_index(p) is not None)


def processes_holding(path: str | Path) -> list[int]:
    """Pids of processes that have `path` open (Linux /proc; only the ones this user may inspect):
    a recorder writing its episode right now. Recovering such a file would cut a live recording."""
    target = os.path.realpath(path)
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == target for fd in fd_dir.iterdir()):
                pids.append(int(fd_dir.parent.name))
        except OSError:  # gone meanwhile, or another user's process
            continue
    return pids


@dataclasses.dataclass(frozen=True)
class Recovery:
    path: Path           # where the episode (or the quarantined file) is now
    outcome: str         # "recovered" (whole: it had ended), "partial", or "quarantined"
    messages: int
    message: str         # one line for the operator


def recover_active(path: str | Path, min_messages: int = 1) -> Recovery:
    """Repair an `.active` file a crash left (see the module docstring)."""
    path = Path(path)
    index = episode_index(path)
    records, torn, problem = iter_records(path)
    keep = [r for r in records if isinstance(r, (Schema, Channel, Message, Metadata))]
    n_messages = sum(isinstance(r, Message) for r in keep)
    names = {r.name for r in keep if isinstance(r, Metadata)}
    if index is None or EPISODE_RECORD not in names or n_messages < min_messages:
        why = ("not named episode_NNNNNN.mcap.active" if index is None else
               "no episode metadata in it" if EPISODE_RECORD not in names else
               f"{n_messages} complete message(s) (the crash came before the first chunk was written)")
        return _quarantine(path, why, problem, n_messages)
    ended = ENDED_RECORD in names
    target = episode_file(path.parent, index, partial=not ended)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        writer = Writer(f, compression=CompressionType.ZSTD)
        writer.start(profile="ros2", library="roboalign recovery")
        schema_ids, channel_ids = {}, {}
        for r in keep:
            if isinstance(r, Schema):
                schema_ids[r.id] = writer.register_schema(r.name, r.encoding or SchemaEncoding.ROS2, r.data)
            elif isinstance(r, Channel):
                channel_ids[r.id] = writer.register_channel(r.topic, r.message_encoding or MessageEncoding.CDR,
                                                            schema_ids.get(r.schema_id, 0), r.metadata)
            elif isinstance(r, Metadata):
                writer.add_metadata(r.name, r.metadata)
            else:
                writer.add_message(channel_ids[r.channel_id], r.log_time, r.data, r.publish_time, r.sequence)
        writer.add_metadata(RECOVERY_RECORD, record_fields({
            "partial": not ended, "torn": torn, "messages": n_messages, "from": path.name,
            "problem": problem}))
        if OUTCOME_RECORD not in names:
            writer.add_metadata(OUTCOME_RECORD, record_fields({"outcome": "unmarked", "success": None}))
        writer.finish()
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, target)
    path.unlink()
    fsync_dir(path.parent)
    what = "recovered" if ended else "partial"
    line = (f"{path.name}: the episode had ended; recovered whole as {target.name} (outcome unmarked)" if ended else
            f"{path.name}: recording was cut off; kept {n_messages} messages as {target.name} "
            f"(flagged partial, left out of exports)")
    return Recovery(target, what, n_messages, line)


def _quarantine(path: Path, why: str, problem: str, n_messages: int) -> Recovery:
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.rename(path, target)
    note = f"{path.name} quarantined: {why}" + (f"; reading stopped at {problem}" if problem else "")
    (folder / f"{path.name}.txt").write_text(note + "\n")
    fsync_dir(path.parent)
    return Recovery(target, "quarantined", n_messages, f"{note} (moved to {target})")
