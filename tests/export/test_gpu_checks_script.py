"""benchmarks/gpu/run_gpu_checks.py on a machine without an NVIDIA GPU: one clear line, exit 3,
and a JSON report that says so (the GPU path itself needs a GPU; docs/export.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu" / "run_gpu_checks.py"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is visible here")
def test_without_a_gpu_the_script_says_so_and_exits_3(tmp_path):
    report = tmp_path / "gpu.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT / "runtime")}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", str(report)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "no NVIDIA GPU is visible to torch" in proc.stderr and "--smoke" in proc.stderr
    data = json.loads(report.read_text())
    assert data["status"] == "no_gpu" and data["exit_code"] == 3 and data["models"] == []
    assert json.loads(proc.stdout)["status"] == "no_gpu"
