"""Fixtures for the serving tests: in-thread servers and raw ZMQ peers."""
from __future__ import annotations

import pytest
from serving_helpers import RawPeer, make_observation

from roboalign.policy.noop import NoopPolicy
from roboalign.serving.server import PolicyServer


@pytest.fixture
def obs():
    return make_observation()


@pytest.fixture
def noop_server():
    """A NoopPolicy server on a random loopback port, served from a thread."""
    server = PolicyServer(NoopPolicy(horizon=8, dim=14), "tcp://127.0.0.1:0", warmup_iters=1)
    server.start_in_thread()
    yield server
    server.close()


@pytest.fixture
def raw_peer(noop_server):
    peer = RawPeer(noop_server.endpoint)
    yield peer
    peer.close()
