"""ServerStats: counters and a latency window, answered by the `stats` endpoint."""
from __future__ import annotations

import collections
import os
import time
from typing import Any

import numpy as np


def resident_memory_bytes() -> int | None:
    """Current resident set size of this process (Linux), for the bounded-memory checks."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class ServerStats:
    """Everything the server counts. Single-threaded: only the serving loop touches it."""

    def __init__(self, window: int = 1000) -> None:
        self.started = time.monotonic()
        self.requests: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        # Requests that got no reply: the reply could not be delivered (the client vanished or
        # stopped reading), or the message had no header to answer. `dropped` is their total.
        self.dropped_by_reason: collections.Counter[str] = collections.Counter()
        self.replies = 0
        self.auth_accepted = 0
        self.auth_rejected_key = 0        # CURVE clients whose key is not authorised (ZAP: 400)
        self.auth_rejected_handshake = 0  # handshakes that failed before that: a plain client at a
                                          # CURVE server, a wrong server key, a CURVE client at a
                                          # plain server, anything not ZMTP
        self.warmup_ms: float | None = None
        self._total_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._infer_ms: collections.deque[float] = collections.deque(maxlen=window)

    def drop(self, reason: str) -> None:
        self.dropped_by_reason[reason] += 1

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())

    def record_infer(self, total_ms: float, infer_ms: float) -> None:
        self._total_ms.append(total_ms)
        self._infer_ms.append(infer_ms)

    @staticmethod
    def _summary(values: collections.deque[float]) -> dict[str, float] | None:
        if not values:
            return None
        arr = np.fromiter(values, dtype=np.float64, count=len(values))
        p50, p99 = np.percentile(arr, [50, 99])
        return {"p50": round(float(p50), 4), "p99": round(float(p99), 4),
                "mean": round(float(arr.mean()), 4), "max": round(float(arr.max()), 4), "n": int(arr.size)}

    def snapshot(self) -> dict[str, Any]:
        batches = sum(self.batch_sizes.values())
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "replies": self.replies,
            "dropped": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "batches": batches,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "max_batch_seen": max(self.batch_sizes, default=0),
            "infer_total_ms": self._summary(self._total_ms),
            "infer_policy_ms": self._summary(self._infer_ms),
            "auth": {"accepted": self.auth_accepted,
                     "rejected": self.auth_rejected_key + self.auth_rejected_handshake,
                     "rejected_key": self.auth_rejected_key, "rejected_handshake": self.auth_rejected_handshake},
            "warmup_ms": self.warmup_ms,
            "rss_bytes": resident_memory_bytes(),
        }
