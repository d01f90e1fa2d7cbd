"""A real server on 127.0.0.1 against hostile and vanishing peers, over real ZMQ sockets.

Every message gets an error reply (with its request id whenever the header holds a readable
one) or is counted as dropped; the server never crashes and never leaves a peer hanging.
"""
from __future__ import annotations

import time

import pytest
from hostile_headers import header_bytes, hostile_headers, nested_list, packed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_helpers import RawPeer, make_observation, wait_for

from roboalign.policy.noop import NoopPolicy
from roboalign.serving import codec, errors, protocol
from roboalign.serving.client import PolicyClient
from roboalign.serving.errors import ServerError
from roboalign.serving.server import PolicyServer

REPLY_WAIT_S = 2.0  # a reply slower than this on loopback counts as a hang


@pytest.fixture(scope="module")
def server():
    with PolicyServer(NoopPolicy(horizon=4, dim=14), "tcp://127.0.0.1:0", warmup_iters=0) as s:
        yield s


@pytest.fixture(scope="module")
def peer(server):
    p = RawPeer(server.endpoint)
    yield p
    p.close()


def reply_to(peer: RawPeer, frames: list) -> protocol.Message:
    peer.send(frames)
    reply = peer.recv(timeout_s=REPLY_WAIT_S)
    assert reply is not None, "no reply: the client would wait for its timeout"
    return protocol.decode(reply, kinds=protocol.REPLY_KINDS)


@pytest.mark.parametrize("depth", [1000, 5000])
@pytest.mark.parametrize("field", ["kind", "version"])
def test_a_deeply_nested_kind_or_version_gets_an_error_reply_with_its_id(server, peer, field, depth):
    fields = {"version": packed(1), "kind": packed("health"), "id": packed(4242)}
    fields[field] = nested_list(depth)
    msg = reply_to(peer, [header_bytes(list(fields.items()))])
    assert msg.kind == "error" and msg.id == 4242
    assert reply_to(peer, protocol.encode("health", 4243)).kind == "health"


def test_an_instruction_over_4096_utf8_bytes_fails_at_once_with_too_large(server):
    obs = make_observation()
    with PolicyClient(server.endpoint, timeout_s=5.0) as client:
        obs.instruction = "é" * 2048  # 4096 bytes: accepted
        assert client.infer(obs).horizon == 4
        obs.instruction = "é" * 4096  # 4096 characters, 8192 bytes
        t0 = time.monotonic()
        with pytest.raises(ServerError) as info:
            client.infer(obs)
        assert info.value.code == errors.TOO_LARGE and "4096 bytes" in info.value.message
        assert time.monotonic() - t0 < 1.0, "the refusal must reach the waiting call, not its timeout"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(header=hostile_headers(), payloads=st.lists(st.binary(max_size=32), max_size=3))
def test_hostile_headers_over_zmq_always_get_a_reply_with_their_readable_id(server, peer, header, payloads):
    msg = reply_to(peer, [header.raw, *payloads])
    assert msg.kind in protocol.REPLY_KINDS
    if msg.kind == "error":
        assert msg.body["code"] in errors.ERROR_CODES
    if header.id_readable:
        assert msg.id == (header.request_id or 0)


@settings(max_examples=80, deadline=None)
@given(frames=st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_arbitrary_frames_over_zmq_always_get_a_reply(server, peer, frames):
    assert reply_to(peer, frames).kind in protocol.REPLY_KINDS


def test_after_the_hostile_traffic_the_server_serves_and_dropped_nothing(server, peer):
    """Runs after the tests above, on the same server: each of their messages got its reply."""
    with PolicyClient(server.endpoint) as client:
        assert client.infer(make_observation()).horizon == 4
        stats = client.stats()
    assert stats["dropped"] == 0 and sum(stats["errors"].values()) >= 100


class SlowNoop(NoopPolicy):
    def infer(self, observation):
        time.sleep(0.3)
        return super().infer(observation)


def test_a_reply_to_a_client_that_vanished_is_counted_as_dropped():
    with PolicyServer(SlowNoop(), "tcp://127.0.0.1:0", warmup_iters=0) as server:
        for request_id in (1, 2):
            gone = RawPeer(server.endpoint)
            body, arrays = codec.observation_to_wire(make_observation())
            gone.send(protocol.encode("infer", request_id, body, arrays))
            assert wait_for(lambda n=request_id: server.stats.requests["infer"] == n)  # in flight
            gone.close()
        assert wait_for(lambda: server.stats.dropped == 2, timeout_s=3.0)
        with PolicyClient(server.endpoint) as client:
            stats = client.stats()
        assert stats["dropped"] == 2 and stats["dropped_by_reason"] == {"client_gone": 2}
        assert stats["replies"] == 0  # nothing was delivered (the stats reply is counted after its snapshot)

