"""The console's status dict and how each part of it reads on screen (pure functions).

The dict merges what the bridge hears (every key optional; missing = not heard yet):

    recorder: the recorder node's /recorder/status JSON (its keys, docs/data.md "Commands and
        status"): state (idle | recording | stopped), episode_index, episode_count, duration_s,
        last_durations_s, dropped_frames (topic -> count), stream_rates_hz (topic -> Hz),
        output_dir, message.
    instruction: str                      the task instruction (/task/instruction)
    estop: bool                           this console's e-stop is asserted
    estop_latched: bool | None            the safety node's e-stop latch (/safety/state)
    safety: str                           the safety filter's state (ok, limited, hold, stop, ...)
    safety_stopped: bool | None           /safety/stopped
    teleop: dict                          /teleop/state JSON: source, active, device_error
    recorder_age_s: float | None          s since the last recorder status (stale = not running?)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

STALE_RECORDER_S = 2.0  # the recorder publishes at 2 Hz: 4 missed statuses = not there


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, secs = divmod(float(value), 60.0)
    return f"{int(minutes)}:{secs:04.1f}" if minutes else f"{secs:.1f} s"


def recorder_lines(status: Mapping[str, Any]) -> list[str]:
    rec = status.get("recorder") or {}
    age = status.get("recorder_age_s")
    if not rec:
        return ["recorder: not heard yet (is the recorder node running?)"]
    state = str(rec.get("state", "?")).upper()
    stale = age is not None and age > STALE_RECORDER_S
    lines = [f"state: {state}" + (f"   (no status for {age:.0f} s)" if stale else ""),
             f"episode: {rec.get('episode_index', '-')}   recorded: {rec.get('episode_count', 0)}   "
             f"duration: {seconds(rec.get('duration_s'))}"]
    durations: Sequence[float] = rec.get("last_durations_s") or []
    if durations:
        lines.append("last: " + "  ".join(seconds(d) for d in list(durations)[-6:]))
    if rec.get("output_dir"):
        lines.append(f"into: {rec['output_dir']}")
    if rec.get("message"):
        lines.append(f"> {rec['message']}")
    return lines


def safety_lines(status: Mapping[str, Any]) -> list[str]:
    estop = bool(status.get("estop"))
    latched = status.get("estop_latched")
    stopped = status.get("safety_stopped")
    lines = [f"e-stop: {'ASSERTED (x: release + reset)' if estop else 'released'}"
             + ("   safety latch: E-STOP" if latched else "")]
    safety = status.get("safety")
    lines.append(f"safety: {safety if safety else 'not heard yet'}" + ("   ARM STOPPED" if stopped else ""))
    teleop = status.get("teleop") or {}
    if teleop:
        live = "input live" if teleop.get("active") else "no input (holding)"
        error = f"   {teleop['device_error']}" if teleop.get("device_error") else ""
        lines.append(f"teleop: {teleop.get('source', '?')}, {live}{error}")
    return lines


def stream_rows(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(stream, rate Hz, dropped) rows, sorted by stream name."""
    rec = status.get("recorder") or {}
    rates = rec.get("stream_rates_hz") or {}
    dropped = rec.get("dropped_frames") or {}
    rows = []
    for name in sorted(set(rates) | set(dropped)):
        rate = rates.get(name)
        rows.append((name, "-" if rate is None else f"{float(rate):.1f}", str(dropped.get(name, 0))))
    return rows


def recording(status: Mapping[str, Any]) -> bool:
    return str((status.get("recorder") or {}).get("state", "")) == "recording"
