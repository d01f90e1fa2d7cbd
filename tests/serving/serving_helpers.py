"""Helpers shared by the serving tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

import time

import numpy as np
import zmq

from roboalign.core.observation import Observation


def make_observation(dim: int = 14, seed: int = 0, size: int = 32) -> Observation:
    """An observation with every field set (two cameras, velocities, capture times, privileged)."""
    rng = np.random.default_rng(seed)
    return Observation(
        images={"front": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                "wrist": rng.integers(0, 255, (size // 2, size, 3), dtype=np.uint8)},
        joint_positions=rng.normal(size=dim),
        joint_velocities=rng.normal(size=dim),
        instruction=f"touch the red block #{seed}",
        timestamp=100.0 + seed,
        capture_times={"joints": 99.5 + seed, "front": 99.25 + seed},
        privileged={"target_position": rng.normal(size=3), "family_index": np.array(1, dtype=np.int64),
                    "mask": np.array([True, False])},
    )


class RawPeer:
    """A bare DEALER socket, for sending hand-made (hostile) frames to a server."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def send(self, frames: list) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout_s: float = 2.0) -> list[bytes] | None:
        if self.sock.poll(int(timeout_s * 1000)):
            return self.sock.recv_multipart()
        return None

    def close(self) -> None:
        self.sock.close(linger=0)


def wait_for(predicate, timeout_s: float = 2.0, interval_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
