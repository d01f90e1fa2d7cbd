"""A recording session: which episode is being written, and what start/stop/... do.

States and commands (the words of the recorder node's /recorder/command topic):

    idle      --start-->            recording   (opens episode_NNNNNN.mcap.active)
    recording --stop-->             stopped     (no more messages; outcome still to be given)
    recording --success|failure-->  idle        (ended, marked and sealed: episode_NNNNNN.mcap)
    stopped   --success|failure-->  idle        (marked and sealed)
    stopped   --start-->            recording   (the stopped episode is sealed "unmarked" first)
    recording|stopped --discard-->  idle        (the file is deleted; its index is reused)

Anything else (stop while idle, start while recording, ...) is refused: the state does not
change and the answer says why. close() seals a stopped episode as unmarked and keeps a
recording one as a flagged partial episode (a session never invents an outcome).

Opening a session on a folder first recovers any `.active` file a crash left there
(roboalign.data.recording_reader.recover_active; `roboalign dataset recover` runs the same; a
file another process holds open is left alone) and numbers new episodes after every file in it.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roboalign.data.recording import ACTIVE_SUFFIX, EpisodeWriter, RecordingMetadata, episode_index

STATES = ("idle", "recording", "stopped")
COMMANDS = ("start", "stop", "discard", "success", "failure")


@dataclasses.dataclass(frozen=True)
class Answer:
    accepted: bool
    state: str
    message: str


@dataclasses.dataclass(frozen=True)
class SealedEpisode:
    index: int
    path: Path
    outcome: str
    duration_s: float


class RecordingSession:
    """metadata: called at each start for the new episode's RecordingMetadata (the instruction,
    seed, ... of that moment). clock_ns: the graph's clock (default: wall clock)."""

    def __init__(self, folder: str | Path, metadata: Callable[[], RecordingMetadata] | RecordingMetadata,
                 clock_ns: Callable[[], int] = time.time_ns, recover: bool = True, **writer_kwargs: Any) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._metadata = metadata if callable(metadata) else (lambda: metadata)
        self.clock_ns = clock_ns
        self.writer_kwargs = writer_kwargs
        self.recovered: list[str] = []  # one line per .active file found at open (what became of it)
        if recover:
            from roboalign.data.recording_reader import processes_holding, recover_active

            for path in sorted(self.folder.glob(f"*{ACTIVE_SUFFIX}")):
                pids = processes_holding(path)  # another recorder writing it now: not a crash's leftover
                self.recovered.append(f"{path.name}: open in pid {', '.join(map(str, pids))}; left alone" if pids
                                      else recover_active(path).message)
        self.state = "idle"
        self.writer: EpisodeWriter | None = None
        self.sealed: list[SealedEpisode] = []
        self.discarded = 0
        self.next_index = self._first_free_index()

    def _first_free_index(self) -> int:
        taken = [episode_index(p) for p in self.folder.iterdir()]
        quarantine = self.folder / "quarantine"
        if quarantine.is_dir():
            taken += [episode_index(p) for p in quarantine.iterdir()]
        return max((i for i in taken if i is not None), default=-1) + 1

    # ---- commands -------------------------------------------------------------------------
    def command(self, word: str) -> Answer:
        """Apply one command word; never raises for a command that does not fit the state."""
        handler = {"start": self.start, "stop": self.stop, "discard": self.discard,
                   "success": lambda: self.mark("success"), "failure": lambda: self.mark("failure")}.get(word)
        if handler is None:
            return Answer(False, self.state, f"unknown command {word!r}; commands: {', '.join(COMMANDS)}")
        return handler()

    def start(self) -> Answer:
        if self.state == "recording":
            return self._refuse(f"already recording episode {self.writer.index}")
        note = ""
        if self.state == "stopped":
            note = f"episode {self._seal('unmarked').index} sealed unmarked; "
        self.writer = EpisodeWriter.open(self.folder, self.next_index, self._metadata(), **self.writer_kwargs)
        self.next_index += 1
        self.state = "recording"
        return Answer(True, self.state, f"{note}recording episode {self.writer.index}")

    def stop(self) -> Answer:
        if self.state != "recording":
            return self._refuse("not recording")
        self.writer.end(self.clock_ns())
        self.state = "stopped"
        return Answer(True, self.state, f"episode {self.writer.index} stopped: mark success or failure, or discard")

    def mark(self, outcome: str) -> Answer:
        if self.state == "idle":
            return self._refuse(f"no episode to mark {outcome} (start one first)")
        sealed = self._seal(outcome)
        return Answer(True, self.state, f"episode {sealed.index} sealed: {outcome} ({sealed.duration_s:.1f} s)")

    def discard(self) -> Answer:
        if self.state == "idle":
            return self._refuse("no episode to discard")
        index = self.writer.index
        self.writer.discard()
        self.writer = None
        self.next_index = index  # the number is free again: no gaps from discarded takes
        self.discarded += 1
        self.state = "idle"
        return Answer(True, self.state, f"episode {index} discarded")

    def close(self) -> str | None:
        """End of the session: a stopped episode is sealed unmarked; one still recording is kept
        as a flagged partial (nobody said it was finished). Returns a line saying what happened."""
        if self.state == "stopped":
            sealed = self._seal("unmarked")
            return f"episode {sealed.index} sealed unmarked"
        if self.state == "recording":
            from roboalign.data.recording_reader import recover_active

            self.writer.abandon()
            path, self.writer, self.state = self.writer.path, None, "idle"
            return recover_active(path).message
        return None

    # ---- state ----------------------------------------------------------------------------
    def duration_s(self) -> float:
        """Seconds recorded in the current episode (0 when idle)."""
        w = self.writer
        if w is None or w.start_ns is None:
            return 0.0
        end = w.end_ns if w.end_ns is not None else self.clock_ns()
        return max(0.0, (end - w.start_ns) * 1e-9)

    def _seal(self, outcome: str) -> SealedEpisode:
        w = self.writer
        duration = self.duration_s()
        path = w.seal(outcome, end_ns=self.clock_ns())
        sealed = SealedEpisode(w.index, path, outcome, duration)
        self.sealed.append(sealed)
        self.writer = None
        self.state = "idle"
        return sealed

    def _refuse(self, why: str) -> Answer:
        return Answer(False, self.state, f"refused: {why}")
