"""Structured logs for the serving layer: one event name + key=value fields per line.

Text lines for people (`2025-01-01T12:00:00 INFO serve.ready endpoint=tcp://... policy=noop`),
or JSON lines for log collectors (`--log-json`). Hot-path events (one per request) are DEBUG
and are only formatted when that level is on; warnings about hostile traffic are rate-limited
so a flood of garbage cannot flood the log too.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "roboalign.serving"


class _EventFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        if self.as_json:
            return json.dumps({"ts": round(record.created, 6), "level": record.levelname,
                               "event": record.getMessage(), **fields}, default=str)
        pairs = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        return f"{stamp} {record.levelname} {record.getMessage()} {pairs}".rstrip()


def _text(value: Any) -> str:
    s = str(value)
    return repr(s) if (" " in s or not s) else s


def configure(as_json: bool = False, level: int | str = logging.INFO) -> logging.Logger:
    """Send serving events to stderr (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for h in list(logger.handlers):
        if getattr(h, "_roboalign", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._roboalign = True  # type: ignore[attr-defined]
    handler.setFormatter(_EventFormatter(as_json))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})


class RateLimited:
    """Allows `per_second` events per second; counts what it suppressed, for the next one."""

    def __init__(self, per_second: float = 10.0) -> None:
        self.per_second = per_second
        self._window_start = 0.0
        self._count = 0
        self.suppressed = 0

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._window_start >= 1.0:
            self._window_start, self._count = now, 0
        self._count += 1
        if self._count <= self.per_second:
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        n, self.suppressed = self.suppressed, 0
        return n
