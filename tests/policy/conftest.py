"""Fixtures for backbone tests: tiny backbones of both families and a fixed observation."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.core import Observation


@pytest.fixture(scope="session")
def tiny_qwen25():
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(corpus=["touch the red block", "touch the blue cube"])


@pytest.fixture(scope="session")
def tiny_qwen3():
    from roboalign.policy.tiny import build_tiny_qwen3_vl

    return build_tiny_qwen3_vl(corpus=["touch the red block", "touch the blue cube"])


def make_obs(seed: int = 0, instruction: str = "touch the red block", cams=("front",), hw=(96, 128)) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(
        images={c: rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for c in cams},
        joint_positions=rng.uniform(-1, 1, 7),
        instruction=instruction,
    )


@pytest.fixture(name="make_obs")
def make_obs_fixture():
    """make_obs(seed, instruction, cams, hw) -> Observation with random images."""
    return make_obs


@pytest.fixture
def obs() -> Observation:
    return make_obs()
