"""ServerProcess: run `roboalign serve` in a subprocess for the length of a `with` block.

    with ServerProcess(policy="expert") as server:
        policy = RemotePolicy(server.endpoint)
        ...

The GPU work lives in its own process, exactly as on a robot; the rollout CLI, the demo and
the integration tests use this. The server's stdout/stderr go to a log file (a pipe nobody
reads would eventually block the server); its tail is quoted in any start-up error.

The server dies with the process that started it, however that process ends:
- `stop()` (the end of the `with` block, also on an exception or a failed start): SIGTERM to
  the server's process group (graceful), SIGKILL after a timeout.
- SIGKILL, a crash, or a SIGTERM with no handler: the server holds the read end of a
  "lifeline" pipe whose only write end lives in this process. The kernel closes it when this
  process dies, for any reason; a thread in the server sees end-of-file and sends the server
  SIGTERM (and exits hard if that has not ended it within LIFELINE_GRACE_S). Unlike
  PR_SET_PDEATHSIG this works on every POSIX system and does not depend on which thread
  started the server.
- The server runs in its own process group, so a Ctrl-C in the terminal reaches only the
  command, which then shuts down in order (its nodes first, then the server).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from roboalign.serving.auth import ClientAuth
from roboalign.serving.client import PolicyClient
from roboalign.serving.errors import RequestTimeout

LIFELINE_GRACE_S = 10.0  # s a server gets to stop gracefully once its parent has gone


class ServerProcessError(RuntimeError):
    """The server process exited or never answered; the message quotes its log."""


def free_tcp_endpoint() -> str:
    """tcp://127.0.0.1:PORT with a port free right now (a tiny race remains; fine for tests and tools)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class ServerProcess:
    """`python -m roboalign.cli serve --policy POLICY --bind BIND *extra_args` as a context manager.

    bind None picks a free loopback TCP port. `endpoint` is where clients connect; `client_auth`
    is needed only when extra_args turn on --auth-keys (it is used for the readiness check).
    """

    def __init__(self, policy: str = "expert", bind: str | None = None, extra_args: Sequence[str] = (),
                 ready_timeout_s: float = 30.0, client_auth: ClientAuth | None = None) -> None:
        self.policy = str(policy)
        self.endpoint = bind or free_tcp_endpoint()
        self.extra_args = tuple(str(a) for a in extra_args)
        self.ready_timeout_s = ready_timeout_s
        self.client_auth = client_auth
        self._log_path: Path | None = None  # a temporary file, made by start()
        self._log_file = None
        self._lifeline: int | None = None  # write end of the pipe whose closing stops the server
        self.proc: subprocess.Popen | None = None
        self.health: dict | None = None

    @property
    def command(self) -> list[str]:
        """The `roboalign serve` command line (what the child runs, under its lifeline)."""
        return [sys.executable, "-m", "roboalign.cli", "serve", "--policy", self.policy,
                "--bind", self.endpoint, *self.extra_args]

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def log_tail(self, n_chars: int = 3000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-n_chars:]

    def start(self) -> ServerProcess:
        if self.proc is not None:
            raise RuntimeError(f"this ServerProcess was already started (pid {self.proc.pid}); make a new one")
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="roboalign-serve-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        self._log_file = open(self._log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # os.pipe() fds are not inherited by other children; only the server gets the read end.
        lifeline_read, self._lifeline = os.pipe()
        try:
            child = [sys.executable, "-m", "roboalign.serving.lifeline_cli", str(lifeline_read), *self.command[3:]]
            self.proc = subprocess.Popen(child, stdout=self._log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, pass_fds=(lifeline_read,),
                                         process_group=0)
        except BaseException:
            os.close(self._lifeline)
            self._lifeline = None
            raise
        finally:
            os.close(lifeline_read)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        with PolicyClient(self.endpoint, timeout_s=0.5, auth=self.client_auth) as client:
            while True:
                code = self.proc.poll() if self.proc else None
                if code is not None:
                    raise ServerProcessError(
                        f"server process exited with code {code} before it was ready "
                        f"(command: {' '.join(self.command)}):\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise ServerProcessError(
                        f"server at {self.endpoint} did not answer health within {self.ready_timeout_s:.0f} s:\n"
                        f"{self.log_tail()}")
                try:
                    self.health = client.health(timeout_s=0.5)
                    return
                except RequestTimeout:
                    continue

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (graceful: queued requests finish), then SIGKILL after timeout_s. Returns the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.proc.wait(5.0)
            code = self.proc.returncode
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # its process group: the server and any child of it
        except (ProcessLookupError, PermissionError):
            pass  # already gone (a group id is never reused while its leader is unreaped)

    def __enter__(self) -> ServerProcess:
        """Starts the server, or takes over one already started with start()."""
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- the child side --------------------------------------------------------------------------
def watch_lifeline(fd: int) -> None:
    """Block until the parent's end of the pipe closes (the parent is gone), then stop."""
    try:
        while os.read(fd, 64):
            pass  # the parent never writes; data would be ignored
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)  # graceful: the server's handler drains and exits
    time.sleep(LIFELINE_GRACE_S)
    os._exit(1)  # the handler did not end the process in time

