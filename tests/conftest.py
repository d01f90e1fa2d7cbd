"""Test-wide settings: loopback-only DDS, headless MuJoCo, per-test ROS domains and ports, and
one torch thread for the modules that ask for it."""
from __future__ import annotations

import os

import pytest

# Never let DDS discovery leave loopback; render MuJoCo offscreen.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_next_domain = [10 + (os.getpid() % 50) * 4]


@pytest.fixture
def ros_domain_id(monkeypatch) -> int:
    """A ROS_DOMAIN_ID of this test's own (0..232), so parallel tests never cross-talk."""
    _next_domain[0] = 10 + (_next_domain[0] + 1 - 10) % 220
    monkeypatch.setenv("ROS_DOMAIN_ID", str(_next_domain[0]))
    return _next_domain[0]


@pytest.fixture
def free_tcp_endpoint() -> str:
    """tcp://127.0.0.1:<free port> for a ZMQ server of this test's own."""
    from roboalign.serving.process import free_tcp_endpoint as free_endpoint  # lazy: pulls in zmq

    return free_endpoint()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module: on the shared 2-core machine two threads
    oversubscribe (10x slower). Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch  # here, not at the top: most test folders never load torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_vla_folder(tmp_path_factory):
    """A real tiny VLA checkpoint folder with its exported sampler and backbone graphs (what
    `train head` and `export onnx` write), built once per session; copy it before damaging it."""
    from roboalign.export.backbone import export_backbone
    from roboalign.export.onnx import export_head
    from roboalign.policy.vla import build_tiny_vla

    policy = build_tiny_vla()
    folder = policy.save_pretrained(tmp_path_factory.mktemp("vla") / "ckpt")
    export_head(policy.head, folder / "onnx", "sampler", num_steps=policy.num_steps)
    export_backbone(policy.backbone, policy.info.feature_layer, folder / "onnx")
    return folder
