"""Episode files (roboalign.data.recording): exact round trips, metadata, crash recovery."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from roboalign.data.recording import (
    IMAGE,
    JOINT_STATE,
    JOINT_TRAJECTORY,
    STRING,
    EpisodeWriter,
    RecordingMetadata,
    active_file,
)
from roboalign.data.recording_reader import find_recordings, load_recording, read_recording, recover_active
from roboalign.data.sources import open_robot_source

NAMES = ["j1", "j2", "gripper"]
T0 = 1_700_000_000_000_000_000  # ns
STREAMS = {"joints": "/joint_states", "actions": "/arm/command_raw", "cameras": {"front": "/camera/front/image_raw"},
           "instruction": "/task/instruction"}


def header(ns: int) -> dict:
    return {"stamp": {"sec": ns // 10**9, "nanosec": ns % 10**9}, "frame_id": "base"}


def joint_state(ns: int, q) -> dict:
    return {"header": header(ns), "name": NAMES, "position": list(q), "velocity": [], "effort": []}


def command(ns: int, q) -> dict:
    point = {"positions": list(q), "velocities": [], "accelerations": [], "effort": [],
             "time_from_start": {"sec": 0, "nanosec": 20_000_000}}
    return {"header": header(ns), "joint_names": NAMES, "points": [point]}


def image(ns: int, pixels: np.ndarray) -> dict:
    h, w, _ = pixels.shape
    return {"header": header(ns), "height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0, "step": 3 * w,
            "data": pixels.tobytes()}


def record(folder, index=0, steps=30, outcome="success", seal=True, flush_period_s=1.0, **metadata):
    """steps of 10 ms: joints and commands every step, a frame every 10 steps (= the 10 Hz grid).
    metadata: RecordingMetadata fields to set or replace."""
    rng = np.random.default_rng(index)
    sent = {"q": [], "a": [], "frames": [], "times": []}
    meta = RecordingMetadata(robot="sim", cameras=["front"], calibration={"front": "cal-7"}, operator="ana",
                             notes="first try", task="touch", driver="expert", seed=index, policy_rate_hz=10.0,
                             streams=STREAMS)
    meta = dataclasses.replace(meta, **metadata)
    writer = EpisodeWriter.open(folder, index, meta, flush_period_s=flush_period_s)
    writer.write("/task/instruction", STRING, {"data": "touch the red block"}, T0)
    for k in range(steps):
        ns = T0 + k * 10_000_000
        q, a = rng.normal(size=3), rng.normal(size=3)
        writer.write("/joint_states", JOINT_STATE, joint_state(ns, q), ns + 1000, ns)
        writer.write("/arm/command_raw", JOINT_TRAJECTORY, command(ns, a), ns + 2000, ns)
        sent["q"].append(q)
        sent["a"].append(a)
        sent["times"].append(ns)
        if k % 10 == 0:
            pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            writer.write("/camera/front/image_raw", IMAGE, image(ns, pixels), ns + 3000, ns)
            sent["frames"].append(pixels)
    if seal:
        writer.seal(outcome, end_ns=T0 + steps * 10_000_000)
    return writer, sent


def test_messages_round_trip_exactly(tmp_path):
    writer, sent = record(tmp_path)
    rec = read_recording(writer.final)
    assert not rec.torn and rec.schemas["/joint_states"] == JOINT_STATE
    joints = rec.messages["/joint_states"]
    assert [m[1] for m in joints] == sent["times"]                       # publish time = header stamp
    assert [m[0] - m[1] for m in joints] == [1000] * len(joints)         # log time = receive time
    assert np.array_equal([m[2].position for m in joints], sent["q"])    # float64 bit for bit
    assert [list(m[2].name) for m in joints] == [NAMES] * len(joints)
    commands = rec.messages["/arm/command_raw"]
    assert np.array_equal([m[2].points[0].positions for m in commands], sent["a"])
    assert commands[0][2].points[0].time_from_start.nanosec == 20_000_000
    frames = rec.messages["/camera/front/image_raw"]
    assert [bytes(m[2].data) for m in frames] == [f.tobytes() for f in sent["frames"]]
    assert rec.messages["/task/instruction"][0][2].data == "touch the red block"


def test_raw_cdr_from_rclpy_is_written_as_is(tmp_path):
    serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import JointState

    msg = JointState(name=NAMES, position=[0.1, -0.2, 0.3])
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
    writer = EpisodeWriter.open(tmp_path, 0, RecordingMetadata())
    writer.write("/joint_states", JOINT_STATE, serialization.serialize_message(msg), T0)
    path = writer.seal("unmarked")
    (log_time, publish_time, raw), = read_recording(path, decode=False).messages["/joint_states"]
    back = serialization.deserialize_message(raw, JointState)
    assert back == msg and log_time == publish_time == T0


def test_load_recording_gives_the_sent_values_on_the_policy_grid(tmp_path):
    writer, sent = record(tmp_path, steps=30)
    episode = load_recording(writer.final)
    assert len(episode) == 3 and episode.dt == pytest.approx(0.1)
    assert np.allclose(episode.timestamps, [0.0, 0.1, 0.2])
    assert np.array_equal(episode.joint_positions, np.array(sent["q"])[[0, 10, 20]])
    assert np.array_equal(episode.actions, np.array(sent["a"])[[0, 10, 20]])
    assert np.array_equal(episode.images["front"], np.stack(sent["frames"]))
    assert episode.instruction == "touch the red block" and episode.success is True
    m = episode.metadata
    assert (m["operator"], m["notes"], m["calibration"], m["seed"], m["outcome"], m["partial"]) == (
        "ana", "first try", {"front": "cal-7"}, 0, "success", False)


def test_failure_and_unmarked_episodes_load_with_success_false(tmp_path):
    record(tmp_path, 0, outcome="failure")
    record(tmp_path, 1, outcome="unmarked")
    episodes = [load_recording(p) for p in find_recordings(tmp_path)]
    assert [e.success for e in episodes] == [False, False]
    assert [e.metadata["outcome"] for e in episodes] == ["failure", "unmarked"]


def test_a_folder_of_recordings_is_a_robot_source(tmp_path):
    record(tmp_path, 0)
    record(tmp_path, 1, outcome="failure")
    assert len(open_robot_source(tmp_path, horizon=2).episodes) == 2
    assert len(open_robot_source(tmp_path, horizon=2, only_successful=True).episodes) == 1


def test_until_sealed_the_file_has_its_temporary_name(tmp_path):
    writer, _ = record(tmp_path, 4, seal=False)
    assert writer.path == active_file(tmp_path, 4) and writer.path.exists() and not writer.final.exists()
    assert find_recordings(tmp_path) == []
    writer.discard()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileExistsError):  # an episode never overwrites another
        record(tmp_path, 5)
        record(tmp_path, 5)


def test_a_torn_file_is_recovered_as_a_flagged_partial_episode(tmp_path):
    writer, sent = record(tmp_path, 2, steps=60, seal=False, flush_period_s=0.0)  # a chunk per message
    size = writer.path.stat().st_size
    os.truncate(writer.path, size - 100)  # what SIGKILL mid-write leaves: a cut record at the end
    assert read_recording(writer.path).torn
    result = recover_active(writer.path)
    assert result.outcome == "partial" and result.path.name == "episode_000002.partial.mcap"
    assert not writer.path.exists()
    assert find_recordings(tmp_path) == [] and find_recordings(tmp_path, include_partial=True) == [result.path]
    episode = load_recording(result.path)
    assert episode.metadata["partial"] is True and episode.success is False
    recovered = read_recording(result.path).messages["/joint_states"]
    assert np.array_equal([m[2].position for m in recovered], sent["q"][: len(recovered)])
    assert len(recovered) >= 58
    with pytest.raises(ValueError, match="partial"):
        load_recording(result.path, allow_partial=False)


def test_an_ended_but_unmarked_file_is_recovered_whole(tmp_path):
    writer, _ = record(tmp_path, 3, seal=False)
    writer.end(T0 + 10**9)
    result = recover_active(writer.path)
    assert result.outcome == "recovered" and result.path.name == "episode_000003.mcap"
    assert load_recording(result.path).metadata["outcome"] == "unmarked"


def test_a_file_with_nothing_usable_is_quarantined_with_a_reason(tmp_path):
    path = active_file(tmp_path, 9)
    path.write_bytes(b"\x89MCAP0\r\n\x01\x10")  # the magic, then a header record cut short
    result = recover_active(path)
    assert result.outcome == "quarantined" and result.path == tmp_path / "quarantine" / path.name
    assert "no episode metadata" in (tmp_path / "quarantine" / f"{path.name}.txt").read_text()
    assert find_recordings(tmp_path, include_partial=True) == []
