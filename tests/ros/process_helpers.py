"""Running `roboalign ...` as a real subprocess and watching the processes it starts."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

SERVER_LINE = re.compile(r"inference server: pid (\d+) at (\S+)")


def roboalign(*args: str, timeout: float = 120.0, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m roboalign.cli ARGS` to completion, output captured as text."""
    return subprocess.run([sys.executable, "-m", "roboalign.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def server_pid(stdout: str) -> int | None:
    match = SERVER_LINE.search(stdout)
    return int(match.group(1)) if match else None


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (no psutil here: /proc, then kill(pid, 0))."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def processes_with(text: str) -> list[int]:
    """Live pids whose command line contains `text` (e.g. a server's endpoint)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float) -> float | None:
    """Seconds until `pid` is gone, None if it outlived `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not alive(pid):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def one_line(stderr: str) -> str:
    """The single line of `stderr`, asserting there is exactly one and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]
