"""The recording session's state machine (roboalign.data.session) against a model, on real files."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.data.recording import JOINT_STATE, RecordingMetadata
from roboalign.data.recording_reader import find_recordings, read_recording
from roboalign.data.session import COMMANDS, RecordingSession

# state -> command -> next state, for the commands a state accepts (the module docstring's table)
TRANSITIONS = {
    "idle": {"start": "recording"},
    "recording": {"stop": "stopped", "success": "idle", "failure": "idle", "discard": "idle"},
    "stopped": {"start": "recording", "success": "idle", "failure": "idle", "discard": "idle"},
}


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        self.ns += 10_000_000
        return self.ns


def joint_state(ns: int) -> dict:
    return {"header": {"stamp": {"sec": ns // 10**9, "nanosec": ns % 10**9}, "frame_id": ""},
            "name": ["j1"], "position": [ns * 1e-9], "velocity": [], "effort": []}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(COMMANDS + ("pause",)), max_size=20))
def test_every_command_sequence_keeps_state_files_and_outcomes_consistent(words):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clock = Clock()
        session = RecordingSession(folder, RecordingMetadata(robot="sim"), clock_ns=clock, fsync=False)
        state, sealed, active = "idle", [], None  # the model: sealed = [(index, outcome)]
        for word in words:
            answer = session.command(word)
            nxt = TRANSITIONS[state].get(word)
            assert answer.accepted == (nxt is not None), (state, word, answer)
            if nxt is not None:
                if word in ("success", "failure") or (word == "start" and state == "stopped"):
                    sealed.append((active, word if word != "start" else "unmarked"))
                if word == "start":
                    active = len(sealed)  # discarded numbers are reused: no gaps
                if nxt == "idle":
                    active = None
                state = nxt
            assert session.state == answer.state == state
            if state == "recording":  # something to record in every open episode
                session.writer.write("/joint_states", JOINT_STATE, joint_state(clock()), clock.ns)
            actives = sorted(p.name for p in folder.glob("*.mcap.active"))
            assert actives == ([] if active is None else [f"episode_{active:06d}.mcap.active"])
            assert [p.name for p in find_recordings(folder)] == [f"episode_{i:06d}.mcap" for i, _ in sealed]
            assert [(e.index, e.outcome) for e in session.sealed] == sealed
        outcomes = [read_recording(p).outcome["outcome"] for p in find_recordings(folder)]
        assert outcomes == [o for _, o in sealed]
        session.close()  # stopped: sealed unmarked; recording: kept as a flagged partial
        assert not list(folder.glob("*.mcap.active"))
        expected_partial = 1 if state == "recording" else 0
        assert len(find_recordings(folder, include_partial=True)) - len(find_recordings(folder)) == expected_partial
        reopened = RecordingSession(folder, RecordingMetadata(), fsync=False)
        assert reopened.next_index == len(sealed) + (1 if state != "idle" else 0) and reopened.recovered == []


def test_a_refused_command_says_why_and_changes_nothing(tmp_path):
    session = RecordingSession(tmp_path, RecordingMetadata())
    answer = session.command("success")
    assert not answer.accepted and answer.state == "idle" and "start one first" in answer.message
    assert not session.command("shout").accepted and "commands: start, stop" in session.command("shout").message
    assert session.command("start").accepted
    answer = session.command("start")
    assert not answer.accepted and "already recording episode 0" in answer.message


def test_opening_a_folder_recovers_what_a_crash_left(tmp_path):
    first = RecordingSession(tmp_path, RecordingMetadata(robot="sim"))
    first.command("start")
    first.writer.write("/joint_states", JOINT_STATE, joint_state(2_000_000_000), 2_000_000_000)
    first.writer.abandon()  # the file as a killed process leaves it (every chunk written)
    second = RecordingSession(tmp_path, RecordingMetadata(robot="sim"))
    assert len(second.recovered) == 1 and "flagged partial" in second.recovered[0]
    assert second.next_index == 1 and (tmp_path / "episode_000000.partial.mcap").exists()
