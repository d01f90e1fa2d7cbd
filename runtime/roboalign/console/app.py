"""OperatorConsole: the textual App of a recording session.

Keys
    r start   s stop   d discard   y success   n failure        (-> on_command("start") ...)
    space / e E-STOP   x release the e-stop and ask the safety node to reset
    q quit (the bridge asserts its e-stop first when it is an e-stop source)
    teleop keys (i k j l u o, shift for rotations, [ ] gripper, h stop) -> on_teleop_key(char),
    only when a keyboard teleop source is active (teleop_keys given)

The app holds a status dict (roboalign.console.status) and re-renders when set_status() merges
new values into it. Another thread (the ROS bridge) hands updates over through `updates`, a
queue the app drains every UPDATE_PERIOD s: the bridge never waits for the screen. `until`, when
given, is asked at the same period and ends the app once it is true (`roboalign record
--console`: the last episode is sealed, or the scripted expert has finished). It
never talks to ROS: commands leave through the callbacks, so `App.run_test()` drives it in
tests exactly as an operator would.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Static

from roboalign.console import status as fmt

UPDATE_PERIOD = 0.1  # s between drains of the update queue (the recorder publishes at 2 Hz)
RECORDER_COMMANDS = {"r": "start", "s": "stop", "d": "discard", "y": "success", "n": "failure"}


class OperatorConsole(App):
    """on_command(str): a recorder command; on_estop(bool): True = assert, False = release and
    ask for a reset; on_teleop_key(char): a teleop key (None: teleop keys are not forwarded);
    teleop_keys: the characters that are teleop keys; updates: a queue of partial status dicts
    put by another thread; until(): True ends the app (asked every UPDATE_PERIOD s)."""

    TITLE = "RoboAlign recording"
    CSS = """
    #top { height: auto; }
    .panel { border: round $accent; padding: 0 1; height: auto; width: 1fr; }
    #instruction { border: round $primary; padding: 0 1; height: auto; }
    #safety.estop { border: heavy red; color: red; }
    #recorder.recording { border: heavy green; }
    #streams { height: auto; max-height: 12; }
    """
    BINDINGS = [
        Binding("r", "recorder('start')", "start"),
        Binding("s", "recorder('stop')", "stop"),
        Binding("d", "recorder('discard')", "discard"),
        Binding("y", "recorder('success')", "success"),
        Binding("n", "recorder('failure')", "failure"),
        Binding("space,e", "estop", "E-STOP", priority=True),
        Binding("x", "release", "release e-stop"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, status: Mapping[str, Any] | None = None, *,
                 on_command: Callable[[str], None] = lambda command: None,
                 on_estop: Callable[[bool], None] = lambda asserted: None,
                 on_teleop_key: Callable[[str], None] | None = None,
                 teleop_keys: Iterable[str] = (), updates: queue.SimpleQueue | None = None,
                 until: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.status: dict[str, Any] = dict(status or {})
        self.on_command = on_command
        self.on_estop = on_estop
        self.on_teleop_key = on_teleop_key
        self.teleop_keys = frozenset(teleop_keys) if on_teleop_key is not None else frozenset()
        self.sent: list[tuple[float, str]] = []  # (monotonic s, what) of every command sent
        self.updates = updates
        self.until = until

    # ---- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Vertical():
            yield Static(id="instruction")
            with Horizontal(id="top"):
                yield Static(id="recorder", classes="panel")
                yield Static(id="safety", classes="panel")
            yield DataTable(id="streams", show_cursor=False, zebra_stripes=True)
            yield Static(id="keys")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#streams", DataTable)
        table.add_columns("stream", "rate (Hz)", "dropped")
        teleop = ("   teleop: " + " ".join(sorted(self.teleop_keys))) if self.teleop_keys else ""
        self.query_one("#keys", Static).update(
            "r start  s stop  d discard  y success  n failure  space/e E-STOP  x release  q quit" + teleop)
        self.render_status()
        if self.updates is not None or self.until is not None:
            self.set_interval(UPDATE_PERIOD, self.drain_updates)

    def drain_updates(self) -> None:
        if self.until is not None and self.until():
            self.exit()
            return
        merged: dict[str, Any] = {}
        while self.updates is not None:
            try:
                merged.update(self.updates.get_nowait())
            except queue.Empty:
                break
        if merged:
            try:
                self.set_status(merged)
            except NoMatches:  # a tick while the app exits: its widgets are already gone, nothing to draw
                pass

    # ---- status -----------------------------------------------------------------------------
    def set_status(self, update: Mapping[str, Any]) -> None:
        """Merge `update` into the status and re-render (call on the app's thread)."""
        self.status.update(update)
        self.render_status()

    def render_status(self) -> None:
        s = self.status
        self.query_one("#instruction", Static).update(f"instruction: {s.get('instruction') or '-'}")
        recorder = self.query_one("#recorder", Static)
        recorder.update("\n".join(fmt.recorder_lines(s)))
        recorder.set_class(fmt.recording(s), "recording")
        safety = self.query_one("#safety", Static)
        safety.update("\n".join(fmt.safety_lines(s)))
        safety.set_class(bool(s.get("estop") or s.get("estop_latched")), "estop")
        table = self.query_one("#streams", DataTable)
        table.clear()
        for row in fmt.stream_rows(s):
            table.add_row(*row)

    # ---- actions ----------------------------------------------------------------------------
    def _sent(self, what: str) -> None:
        self.sent.append((time.monotonic(), what))

    def action_recorder(self, command: str) -> None:
        self._sent(command)
        self.on_command(command)

    def action_estop(self) -> None:
        self._sent("estop")
        self.on_estop(True)
        self.set_status({"estop": True})

    def action_release(self) -> None:
        self._sent("release")
        self.on_estop(False)
        self.set_status({"estop": False})

    def on_key(self, event) -> None:
        char = event.character
        if char and char in self.teleop_keys and self.on_teleop_key is not None:
            self._sent(f"teleop:{char}")
            self.on_teleop_key(char)
            event.stop()
            event.prevent_default()
