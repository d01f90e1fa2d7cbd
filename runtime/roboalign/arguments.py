"""Range-checked argparse types, so every numeric flag refuses nonsense in one line (exit 2).

    p.add_argument("--episodes", type=int_range(1), default=5)
    p.add_argument("--min-success-rate", type=float_range(0.0, 1.0), default=0.0)
    p.add_argument("--cameras", type=names_from(("front", "wrist")), default="front")

argparse turns the ArgumentTypeError raised here into `roboalign X: error: argument --flag:
<message>` and exit status 2, the usage-error convention of roboalign.errors.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer in [low, high] (either bound may be None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        _check_bounds(value, low, high, text)
        return value

    parse.__name__ = "integer"
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] ((low, high] with low_open=True)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low_open and low is not None and value <= low:
            raise argparse.ArgumentTypeError(f"must be greater than {low:g}, got {text}")
        _check_bounds(value, low, high, text)
        return value

    parse.__name__ = "number"
    return parse


def names_from(valid: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list whose items all come from `valid` (order kept, no duplicates)."""
    valid = tuple(valid)

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(s.strip() for s in text.split(",") if s.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"expected one or more of {', '.join(valid)}")
        bad = [s for s in items if s not in valid]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(valid)}")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"{text!r} names an item twice")
        return items

    parse.__name__ = "list"
    return parse


def _check_bounds(value: float, low: float | None, high: float | None, text: str) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
    if low is not None and value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
