"""ServerProcess: the server never outlives the process that started it, however that ends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roboalign.serving.process import ServerProcess

PARENT = """
import sys, time
from roboalign.serving.process import ServerProcess
server = ServerProcess(policy="noop").start()
print(server.pid, flush=True)
if sys.argv[1] == "crash":
    raise SystemExit("the parent fails without stopping its server")
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM", "crash"])
def test_server_dies_with_its_parent(end):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, end], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    assert alive(pid)
    if end != "crash":
        parent.send_signal(getattr(signal, end))  # no handler in the parent: no cleanup code runs
    parent.wait(30)
    assert gone_within(pid, 15.0), f"server {pid} outlived its parent ({end})"


def test_a_server_process_is_started_once():
    server = ServerProcess(policy="noop").start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
        with server:  # takes over the started server instead of starting a second one
            assert server.proc.poll() is None
    finally:
        server.stop()
    assert server.proc.poll() is not None
