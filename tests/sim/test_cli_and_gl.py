"""`roboalign sim demos` end to end, and automatic choice of the offscreen GL backend."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from roboalign.cli import main
from roboalign.data.episode import Episode
from roboalign.sim import gl


def test_sim_demos_writes_episodes_and_a_summary(tmp_path, capsys):
    out = tmp_path / "demos"
    rc = main(["sim", "demos", "--episodes", "2", "--seed", "5", "--out", str(out), "--size", "32"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["success_rate"] == summary["successes"] / 2
    assert summary["successes"] >= 1
    saved = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(saved) == summary["saved"] == summary["successes"]
    ep = Episode.load(saved[0])
    assert ep.success and set(ep.images) == {"front", "wrist"} and ep.images["front"].shape[1:] == (32, 32, 3)
    assert "successful" in capsys.readouterr().out


def test_explicit_mujoco_gl_is_respected(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert gl.configure_gl() == "osmesa"


def test_backend_is_chosen_automatically_when_mujoco_gl_is_unset():
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    code = (
        "import os; from roboalign.sim.arm import SimArm; a = SimArm(render_size=(16, 16)); "
        "img = a.render('front'); print(os.environ['MUJOCO_GL'], img.shape, int(img.std() > 5))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    backend, *_rest = out.stdout.split()
    assert backend in ("egl", "osmesa")
    assert out.stdout.strip().endswith("(16, 16, 3) 1")
