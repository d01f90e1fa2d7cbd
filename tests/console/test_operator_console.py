"""The operator console through textual's pilot: keys emit the right commands, status renders."""
from __future__ import annotations

import asyncio
import queue

import pytest

pytest.importorskip("textual")
from textual.widgets import DataTable, Static

from roboalign.console.app import OperatorConsole
from roboalign.console.status import recorder_lines, stream_rows
from roboalign.teleop.config import KeyboardConfig
from roboalign.teleop.keyboard import KeyboardTeleop

RECORDING = {"state": "recording", "episode_index": 3, "episode_count": 3, "duration_s": 12.25,
             "last_durations_s": [20.5, 18.0, 25.25], "dropped_frames": {"/camera/front/image_raw": 2},
             "stream_rates_hz": {"/camera/front/image_raw": 29.8, "/joint_states": 100.0}, "output_dir": "demos/fr3"}


def run(app: OperatorConsole, script) -> None:
    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)
    asyncio.run(main())


def text(app: OperatorConsole, widget: str) -> str:
    return str(app.query_one(widget, Static).render())


def test_each_key_sends_its_recorder_command_and_the_estop_keys_assert_and_release():
    commands, estops = [], []
    app = OperatorConsole(on_command=commands.append, on_estop=estops.append)

    async def script(pilot):
        await pilot.press("r", "s", "y", "r", "s", "n", "r", "d")
        await pilot.press("space")
        await pilot.press("x")
        await pilot.press("e")

    run(app, script)
    assert commands == ["start", "stop", "success", "start", "stop", "failure", "start", "discard"]
    assert estops == [True, False, True]


def test_status_renders_episode_count_durations_instruction_safety_and_streams():
    app = OperatorConsole({"recorder": RECORDING, "instruction": "touch the red block", "safety": "ok",
                           "safety_stopped": False, "teleop": {"source": "keyboard", "active": True}})

    async def script(pilot):
        await pilot.pause()
        assert "touch the red block" in text(app, "#instruction")
        recorder = text(app, "#recorder")
        assert "RECORDING" in recorder and "recorded: 3" in recorder and "12.2 s" in recorder
        assert "25.2 s" in recorder and "demos/fr3" in recorder
        safety = text(app, "#safety")
        assert "released" in safety and "safety: ok" in safety and "keyboard, input live" in safety
        table = app.query_one("#streams", DataTable)
        assert table.row_count == 2
        assert [str(c) for c in table.get_row_at(0)] == ["/camera/front/image_raw", "29.8", "2"]
        app.set_status({"estop_latched": True, "safety": "stop", "safety_stopped": True,
                        "recorder": {**RECORDING, "state": "stopped"}})
        await pilot.pause()
        assert "ARM STOPPED" in text(app, "#safety") and "E-STOP" in text(app, "#safety")
        assert app.query_one("#safety").has_class("estop")
        assert "STOPPED" in text(app, "#recorder") and not app.query_one("#recorder").has_class("recording")

    run(app, script)


def test_teleop_keys_are_forwarded_only_when_a_keyboard_source_is_active():
    keys, commands = [], []
    layout = KeyboardTeleop(KeyboardConfig())
    teleop_keys = [k for k in "ikjluoIKJLUO[]h" if layout.handles(k)]
    app = OperatorConsole(on_command=commands.append, on_teleop_key=keys.append, teleop_keys=teleop_keys)

    async def script(pilot):
        await pilot.press("i", "u", "I", "right_square_bracket", "r", "h")

    run(app, script)
    assert keys == ["i", "u", "I", "]", "h"] and commands == ["start"]

    silent = OperatorConsole(on_command=commands.append)  # no keyboard teleop: teleop keys do nothing
    run(silent, lambda pilot: pilot.press("i", "u"))
    assert commands == ["start"]


def test_streams_list_every_topic_with_a_rate_or_a_drop_count_and_a_silent_recorder_says_so():
    rec = {"state": "idle", "stream_rates_hz": {"/joint_states": 99.5, "/arm/command": 50.0},
           "dropped_frames": {"/joint_states": 1}}
    assert stream_rows({"recorder": rec}) == [("/arm/command", "50.0", "0"), ("/joint_states", "99.5", "1")]
    assert "not heard yet" in recorder_lines({})[0]


def test_an_update_that_arrives_while_the_app_exits_is_dropped_not_raised():
    # the drain timer can tick once more after the widgets are gone (seen flaking a graph test)
    updates = queue.SimpleQueue()
    app = OperatorConsole(updates=updates)
    run(app, lambda pilot: pilot.pause())
    updates.put({"instruction": "late"})
    app.drain_updates()
    assert app.status["instruction"] == "late"


def test_until_ends_the_app_once_it_is_true():
    done = []
    app = OperatorConsole(until=lambda: bool(done))

    async def script(pilot):
        await pilot.pause(0.3)
        assert app.is_running
        done.append(True)
        end = asyncio.get_running_loop().time() + 5.0
        while app.is_running and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)
        assert not app.is_running

    run(app, script)
