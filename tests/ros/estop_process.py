"""estop_node as a real process on a pseudo-terminal: the test types keys into it."""
from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time


class EStopProcess:
    """`python -m roboalign_ros.estop_node` with a pty as its terminal (stdin, stdout, stderr).
    ROS_DOMAIN_ID comes from the environment (the ros_domain_id fixture sets it)."""

    def __init__(self, *params: str) -> None:
        self.master, slave = pty.openpty()
        self.terminal_before = termios.tcgetattr(slave)
        args = [sys.executable, "-m", "roboalign_ros.estop_node", "--ros-args"]
        for param in params:
            args += ["-p", param]
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     env={**os.environ, "RCUTILS_COLORIZED_OUTPUT": "0"})
        self.slave = slave  # kept open here too, to read the terminal's settings after the node left
        self._out = bytearray()
        self._hang_up = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)  # a full pty would block the node
        self._reader.start()

    def _drain(self) -> None:
        # The master is closed here, by the thread that reads it: a close from another thread
        # while this one is blocked in read() would not hang the terminal up.
        try:
            while not self._hang_up.is_set():
                if select.select([self.master], [], [], 0.05)[0]:
                    data = os.read(self.master, 4096)
                    if not data:
                        return
                    self._out += data
        except OSError:
            return
        finally:
            os.close(self.master)

    def hang_up(self) -> None:
        """Close the terminal, as closing its window would."""
        self._hang_up.set()
        self._reader.join(timeout=5)

    @property
    def output(self) -> str:
        return self._out.decode(errors="replace")

    def wait_output(self, text: str, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > end or self.proc.poll() is not None and text not in self.output:
                raise AssertionError(f"estop_node never printed {text!r}; output:\n{self.output}")
            time.sleep(0.02)

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def kill(self) -> None:
        """SIGKILL: the process dies without asserting anything (a crash, a pulled cable)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.hang_up()
        os.close(self.slave)
