"""`roboalign record --sim --driver teleop`, end to end in real rclpy against the MuJoCo arm: an
operator's start, keys and success (on the topics the console uses) drive the arm through the
safety node while the recorder records; the sealed episode loads, moved, kept every command in
the sim arm's limits and exports to LeRobot v3. `--console` puts the same operator in the
textual console (driven here through textual's pilot), also beside the scripted expert; a
SIGTERM ends the console and keeps the episode as a flagged partial; no terminal, no console."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
import traceback

import numpy as np
import pytest

pytest.importorskip("rclpy")
import rclpy
from rclpy.context import Context
from rclpy.signals import SignalHandlerOptions
from ros_probe import Probe
from std_msgs.msg import String
from test_record_cli import record_command  # noqa: F401  (the fixture)

from roboalign.cli import main
from roboalign.data.recording_reader import find_recordings, load_recording, read_recording
from roboalign_ros import qos, record_cli
from roboalign_ros.conversions import command_from_trajectory
from roboalign_ros.params import load_robot_spec

pytestmark = pytest.mark.ros

KEYS_S = 1.0             # s the operator holds "forward and up"
KEY_REPEAT_S = 0.03      # a terminal's auto-repeat interval
MOVED_RAD = 0.02         # the arm's joints moved at least this much (the keys move it ~0.1 rad in 1 s)
SIM = ["--set", "sim.camera_rate_hz=10.0", "--set", "sim.objects_rate_hz=1.0"]


def record(args: list[str], operator) -> int:
    """`roboalign record ...` in this thread (it owns the signal handlers) while `operator(probe)`
    runs in another on its own Context; a failing operator interrupts the command (SIGTERM, as
    a terminal's close would) so the test fails instead of waiting for an episode forever."""
    errors: list[str] = []

    def operate() -> None:
        context = Context()
        rclpy.init(args=[], context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]),
                   signal_handler_options=SignalHandlerOptions.NO)
        probe = Probe(context, "operator")
        try:
            operator(probe)
        except BaseException:
            errors.append(traceback.format_exc())
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            probe.close()
            rclpy.try_shutdown(context=context)

    thread = threading.Thread(target=operate, name="operator", daemon=True)
    thread.start()
    code = main(args)
    thread.join(timeout=10.0)
    assert not errors, errors[0]
    return code


def check_episode(out, tmp_path) -> None:
    """The sealed teleop episode: loads, moved, every command within the sim arm's limits, exports."""
    paths = find_recordings(out)
    assert [p.name for p in paths] == ["episode_000000.mcap"]
    episode = load_recording(paths[0])
    assert episode.success and episode.metadata["driver"] == "teleop" and episode.metadata["operator"] == "ana"
    assert len(episode) >= 5 and episode.images["front"].std() > 0
    travel = np.ptp(episode.joint_positions[:, :6], axis=0).max()
    assert travel > MOVED_RAD, f"the arm moved at most {travel:.4f} rad"
    spec = load_robot_spec("sim")
    lower, upper = spec.limits.lower, spec.limits.upper
    messages = read_recording(paths[0]).messages
    for topic in ("/arm/command_raw", "/arm/command"):  # what teleop asked, what the safety node sent
        commands = np.array([command_from_trajectory(m, spec.joint_names) for _, _, m in messages[topic]])
        assert len(commands) > 20, topic
        assert np.all(commands >= lower - 1e-9) and np.all(commands <= upper + 1e-9), topic
    export = tmp_path / "export"
    assert main(["dataset", "export", str(out), "--to", "lerobot", "--out", str(export), "--vcodec", "h264"]) == 0
    info = json.loads((export / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1 and info["total_frames"] == len(episode)


def recorder_state(statuses: list) -> str | None:
    return json.loads(statuses[-1].data)["state"] if statuses else None


def test_teleop_keys_drive_a_recorded_sim_episode_that_stays_in_the_limits_and_exports(
        record_command, ros_domain_id, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "demos"

    def operator(probe: Probe) -> None:
        statuses = probe.subscribe(String, "/recorder/status", qos.LATCHED)
        holds = probe.subscribe(String, "/teleop/state", qos.STATE)
        command = probe.publisher(String, "/recorder/command", qos.COMMAND)
        keys = probe.publisher(String, "/teleop/keys", qos.COMMAND)
        probe.spin_until(lambda: recorder_state(statuses) == "idle" and holds and json.loads(holds[-1].data)["published"]
                         and keys.get_subscription_count() > 0 and command.get_subscription_count() > 0,
                         30.0, "the recorder, and the teleop node holding the arm")
        command.publish(String(data="start"))
        probe.spin_until(lambda: recorder_state(statuses) == "recording", 5.0, "recording")
        end = time.monotonic() + KEYS_S
        while time.monotonic() < end:
            keys.publish(String(data="iu"))  # forward and up, held
            probe.spin_for(KEY_REPEAT_S)
        probe.spin_for(0.5)  # the deadman stops the arm; the episode holds the stop too
        command.publish(String(data="success"))
        probe.spin_until(lambda: json.loads(statuses[-1].data)["episode_count"] == 1, 5.0, "the sealed episode")

    code = record(["record", "--sim", "--driver", "teleop", "--episodes", "1", "--out", str(out),
                      "--operator", "ana", "--task", "touch", "--domain-id", str(ros_domain_id), *SIM], operator)
    assert code == 0 and "1 episode file(s)" in capsys.readouterr().out
    check_episode(out, tmp_path)


class Operator:
    """The operator at `roboalign record --console`: `script(operator)` runs against the real
    app through textual's pilot, in place of record_cli.run_app (the terminal's app.run())."""

    def __init__(self, script) -> None:
        self.script = script
        self.app = None
        self.pilot = None

    def run_app(self, app) -> None:
        async def operate() -> None:
            async with app.run_test(size=(120, 40)) as pilot:
                self.app, self.pilot = app, pilot
                await self.script(self)
                await self.wait_for(lambda: not app.is_running, 10.0, "the console to end after the last episode")
        asyncio.run(operate())

    async def wait_for(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"timed out after {timeout} s waiting for {what}"
            await asyncio.sleep(0.02)

    def key(self, char: str) -> None:
        """A key as the terminal driver delivers it. Not pilot.press: that waits for the process
        to go idle (up to 1 s per key), and this process runs the whole graph."""
        from textual import events

        self.app.post_message(events.Key(char, char))

    def recorder(self) -> dict:
        return self.app.status.get("recorder") or {}


def record_with_console(args: list[str], script, monkeypatch) -> int:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(record_cli, "run_app", Operator(script).run_app)
    return main(["record", "--sim", "--console", *args, *SIM])


def test_record_console_keys_start_drive_and_mark_the_episode_on_the_graph_it_started(
        record_command, ros_domain_id, tmp_path, capsys, monkeypatch):  # noqa: F811
    pytest.importorskip("textual")
    from textual.widgets import DataTable

    out = tmp_path / "demos"
    seen: dict = {}

    async def script(op: Operator) -> None:
        await op.wait_for(lambda: op.recorder().get("state") == "idle" and (op.app.status.get("teleop") or {})
                          .get("published"), 30.0, "the recorder and teleop on screen")
        op.key("r")
        await op.wait_for(lambda: op.recorder().get("state") == "recording", 5.0, "recording on screen")
        end = time.monotonic() + KEYS_S
        while time.monotonic() < end:
            op.key("i")
            op.key("u")
            await asyncio.sleep(KEY_REPEAT_S)
        await asyncio.sleep(0.5)
        seen["streams"] = op.app.query_one("#streams", DataTable).row_count
        seen["output_dir"] = op.recorder().get("output_dir")
        seen["keys"] = sum(what.startswith("teleop:") for _, what in op.app.sent)
        op.key("y")

    code = record_with_console(["--driver", "teleop", "--episodes", "1", "--out", str(out), "--operator", "ana",
                                "--domain-id", str(ros_domain_id)], script, monkeypatch)
    assert code == 0 and "1 episode file(s)" in capsys.readouterr().out
    assert seen["keys"] >= 10
    assert seen["streams"] >= 3 and seen["output_dir"] == str(out.resolve())  # the recorder's own status keys
    check_episode(out, tmp_path)


def test_record_console_with_the_expert_takes_an_operator_discard_and_a_sigterm_keeps_the_partial(
        record_command, ros_domain_id, tmp_path, capsys, monkeypatch):  # noqa: F811
    pytest.importorskip("textual")
    out = tmp_path / "demos"

    async def script(op: Operator) -> None:
        await op.wait_for(lambda: op.recorder().get("state") == "recording", 30.0, "the expert's first episode")
        op.key("d")  # the operator throws the first one away; the expert carries on
        await op.wait_for(lambda: op.recorder().get("discarded") == 1, 5.0, "the discard")
        await op.wait_for(lambda: op.recorder().get("state") == "recording", 15.0, "the expert's second episode")
        os.kill(os.getpid(), signal.SIGTERM)  # a closed terminal, systemd, a timeout: the console ends

    code = record_with_console(["--episodes", "3", "--seed", "3", "--out", str(out), "--max-seconds", "15",
                                "--domain-id", str(ros_domain_id)], script, monkeypatch)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "interrupted (SIGTERM)" in printed
    assert "episode of seed 3: discarded by the operator" in printed  # printed once the console is gone
    assert find_recordings(out) == [] and [p.name for p in find_recordings(out, include_partial=True)] == [
        "episode_000000.partial.mcap"]
    partial = read_recording(out / "episode_000000.partial.mcap")
    assert partial.partial and partial.episode_metadata["seed"] == 4


def test_record_console_without_a_terminal_is_refused_in_one_line(record_command, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert main(["record", "--sim", "--driver", "teleop", "--console", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--console needs a terminal" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
