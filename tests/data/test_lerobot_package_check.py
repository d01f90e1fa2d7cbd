"""The real `lerobot` package loads our export with identical values (scripts/check_lerobot_export.py).

Needs lerobot 0.4.4 in its own venv (`make lerobot-env` -> .venv-lerobot, or LEROBOT_PYTHON=path
to its python); skipped without it, so CI does not depend on its ~8 GB of torch and CUDA wheels.
Takes ~25 s (importing lerobot and torch).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lerobot_fixtures import synthetic_episode, write_episodes

from roboalign.data.lerobot_v3 import export_lerobot_v3
from roboalign.data.sources import iter_episodes

ROOT = Path(__file__).resolve().parents[2]
LEROBOT_PYTHON = Path(os.environ.get("LEROBOT_PYTHON") or ROOT / ".venv-lerobot" / "bin" / "python")

pytestmark = pytest.mark.skipif(
    not LEROBOT_PYTHON.exists(),
    reason=f"no lerobot venv at {LEROBOT_PYTHON}: `make lerobot-env` (or set LEROBOT_PYTHON) to run this check")


def test_lerobot_dataset_loads_the_export_with_identical_values(tmp_path):
    src = write_episodes(tmp_path / "src", [synthetic_episode(0, 8), synthetic_episode(1, 6)])
    export_lerobot_v3(iter_episodes(src), tmp_path / "v3")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "runtime"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_lerobot_export.py"), str(tmp_path / "v3"),
                          "--source", str(src), "--lerobot-python", str(LEROBOT_PYTHON), "--video-backend", "pyav"],
                         capture_output=True, text=True, env=env, timeout=240)
    report = json.loads(run.stdout)
    assert run.returncode == 0 and report["ok"], run.stdout + run.stderr
    assert report["frames"] == 14 and all(report["exact"].values())
    assert all(e["max_abs"] == 0 for e in report["images_lerobot_vs_reader"].values())
    assert all(e["mean_abs"] < 3.0 for e in report["images_reader_vs_source"].values())
