"""No orphan inference server: whatever ends `roboalign rollout` (SIGTERM, SIGINT, SIGKILL, a
failed start), the server it started is gone within seconds. Checked by pid and, in case the
command ever starts a second one, by every process whose command line names its endpoint."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from process_helpers import SERVER_LINE, alive, processes_with, roboalign, wait_gone

pytestmark = pytest.mark.ros


def start_rollout(domain_id: int, stderr_file) -> tuple[subprocess.Popen, int, str]:
    """A long rollout as a subprocess; returns it, its server's pid and endpoint once it runs."""
    proc = subprocess.Popen([sys.executable, "-m", "roboalign.cli", "rollout", "--sim", "--episodes", "50",
                             "--domain-id", str(domain_id)], stdout=subprocess.PIPE, stderr=stderr_file,
                            text=True)
    for line in proc.stdout:  # the server line comes first, then one line per episode
        match = SERVER_LINE.search(line)
        if match:
            return proc, int(match.group(1)), match.group(2)
    proc.kill()
    raise AssertionError("the rollout printed no server line")


def assert_all_gone(pid: int, endpoint: str, what: str) -> None:
    if wait_gone(pid, 20.0) is None:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"inference server {pid} outlived {what}")
    left = processes_with(endpoint)
    for other in left:
        os.kill(other, signal.SIGKILL)
    assert left == [], f"processes serving {endpoint} outlived {what}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_server_dies_with_the_rollout_command(sig, ros_domain_id, tmp_path):
    err = tmp_path / "stderr.txt"
    with open(err, "w") as stderr_file:
        proc, pid, endpoint = start_rollout(ros_domain_id, stderr_file)
    try:
        assert proc.stdout.readline().startswith("episode 1/50")  # graph and server both running
        assert alive(pid) and processes_with(endpoint) == [pid]
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_all_gone(pid, endpoint, f"`roboalign rollout` ended by {sig.name}")
    if sig is signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:  # unwound like Ctrl-C: the graph and the server were shut down in order
        assert code == 130, err.read_text()
        assert "Traceback" not in err.read_text()


def test_a_failed_start_leaves_no_server(ros_domain_id, tmp_path):
    from roboalign_ros.graph import default_graph_path

    graph = tmp_path / "graph.yaml"
    graph.write_text(default_graph_path().read_text().replace("control_rate_hz: 50.0", "control_rate_hz: 5000.0"))
    result = roboalign("rollout", "--sim", "--graph", str(graph), "--domain-id", str(ros_domain_id))
    assert result.returncode == 2 and "control_rate_hz: must be between 1 and 1000" in result.stderr
    match = SERVER_LINE.search(result.stdout)
    assert match, "the server had started; the graph failed afterwards"
    assert_all_gone(int(match.group(1)), match.group(2), "a failed start")
