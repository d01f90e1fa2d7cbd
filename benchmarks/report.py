"""What every benchmark ends with: the machine it ran on, the JSON printed and (with --json) written.

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ (scripts, not a package)
    from report import emit, machine
    emit({"what": ..., "baseline": ..., "machine": machine()}, args.json)
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Python version, CPU count and load average (figures from a busy machine read differently)."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def emit(result: dict[str, Any], path: str | Path | None) -> None:
    """Print `result` as JSON; also write it to `path` when one is given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
