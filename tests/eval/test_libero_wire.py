"""The LIBERO client against a real `roboalign serve` process (fake LIBERO observations), the
client's import footprint, and one real LIBERO episode where .venv-libero exists."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from roboalign.eval.libero_cli import default_python
from roboalign.eval.libero_client import run_episode
from roboalign.policy import libero_spec as spec
from roboalign.serving.client import PolicyClient
from roboalign.serving.process import ServerProcess

REPO = Path(__file__).resolve().parents[2]


class FakeLiberoEnv:
    """LIBERO's env interface (reset, set_init_state, 4-value step) with rendered-size frames;
    the task counts as solved after `solve_after` steps. Records every action it was given."""

    def __init__(self, solve_after: int) -> None:
        self.solve_after = solve_after
        self.actions: list[list[float]] = []
        self.rng = np.random.default_rng(0)

    def _obs(self) -> dict:
        frame = self.rng.integers(0, 256, (spec.RENDER_SIZE, spec.RENDER_SIZE, 3), dtype=np.uint8)
        return {"agentview_image": frame, "robot0_eye_in_hand_image": frame[::-1].copy(),
                "robot0_eef_pos": np.array([-0.2, 0.0, 1.17]), "robot0_eef_quat": np.array([1.0, 0.0, 0.0, 0.0]),
                "robot0_gripper_qpos": np.array([0.039, -0.039])}

    def reset(self) -> dict:
        return self._obs()

    def set_init_state(self, _state) -> dict:
        return self._obs()

    def step(self, action):
        self.actions.append(list(action))
        return self._obs(), 0.0, len(self.actions) >= self.solve_after, {}


@pytest.fixture(scope="module")
def libero_server():
    with ServerProcess(policy="libero_adapter") as server:
        yield server


def test_episode_round_trips_through_a_served_libero_adapter(libero_server):
    env = FakeLiberoEnv(solve_after=spec.NUM_STEPS_WAIT + 12)
    with PolicyClient(libero_server.endpoint, timeout_s=10.0) as client:
        result = run_episode(env, client, "put the bowl on the plate", np.zeros(92), max_steps=50, replan_steps=5)
    assert result.success and result.steps == 12
    assert result.policy_calls == math.ceil(12 / 5)  # a chunk every replan_steps steps
    assert env.actions[: spec.NUM_STEPS_WAIT] == [list(spec.DUMMY_ACTION)] * spec.NUM_STEPS_WAIT
    policy_actions = np.array(env.actions[spec.NUM_STEPS_WAIT:])
    assert policy_actions.shape == (12, 7) and np.abs(policy_actions).max() <= 1.0
    assert result.server_infer_s > 0.0 and result.policy_s >= result.server_infer_s


def test_episode_that_never_succeeds_stops_at_the_step_limit(libero_server):
    env = FakeLiberoEnv(solve_after=10_000)
    with PolicyClient(libero_server.endpoint, timeout_s=10.0) as client:
        result = run_episode(env, client, "open the drawer", np.zeros(79), max_steps=7, replan_steps=3)
    assert not result.success and result.steps == 7 and len(env.actions) == spec.NUM_STEPS_WAIT + 7


def test_client_module_imports_neither_torch_nor_the_project_simulator():
    code = ("import sys, roboalign.eval.libero_client, roboalign.serving.client; "
            "heavy = {'torch', 'scipy', 'mujoco', 'transformers', 'rclpy', 'tokenizers'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "runtime")})
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.skipif(not default_python().exists(),
                    reason="no .venv-libero: `make libero-env` installs LIBERO (~2 GB) in its own venv; not in CI")
def test_one_real_libero_episode_through_the_command(tmp_path):
    out = tmp_path / "libero"
    cmd = [sys.executable, "-m", "roboalign.cli", "eval", "libero", "--policy", "libero_adapter",
           "--suite", "libero_object", "--tasks", "0", "--episodes-per-task", "1", "--max-steps", "3",
           "--out", str(out)]
    subprocess.run(cmd, check=True, timeout=280, env={**os.environ, "MUJOCO_GL": "egl"})
    result = json.loads((out / "libero_object.json").read_text())
    assert result["episodes"] == 1 and result["per_episode"][0]["steps"] == 3
    assert result["per_task"][0]["instruction"] and result["trained_on_libero"] is False
