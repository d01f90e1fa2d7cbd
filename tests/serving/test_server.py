"""PolicyServer in a thread: every endpoint, hostile input, and failing policies.

After every rejected message the same server must serve the next valid request.
"""
from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_helpers import RawPeer, make_observation

from roboalign.core.action import ActionChunk
from roboalign.policy.noop import NoopPolicy
from roboalign.serving import errors, protocol
from roboalign.serving.client import PolicyClient, RemotePolicy
from roboalign.serving.errors import ServerError
from roboalign.serving.server import PolicyServer, ServerStartError


def error_body(reply: list[bytes]) -> dict:
    msg = protocol.decode(reply, kinds=protocol.REPLY_KINDS)
    assert msg.kind == "error"
    return {"id": msg.id, **msg.body}


def assert_still_serving(server: PolicyServer, seed: int = 3) -> None:
    obs = make_observation(seed=seed)
    with PolicyClient(server.endpoint, timeout_s=2.0) as client:
        chunk = client.infer(obs)
    assert np.array_equal(chunk.actions[0], obs.joint_positions)


def test_every_endpoint_round_trips(noop_server, obs):
    with PolicyClient(noop_server.endpoint) as client:
        health = client.health()
        assert health["status"] == "ok" and health["policy"] == "noop"
        meta = client.metadata()
        assert meta["chunk_length"] == 8 and meta["action_dim"] == 14 and meta["policy"] == "noop"
        assert meta["server"]["protocol_version"] == protocol.PROTOCOL_VERSION
        chunk = client.infer(obs)
        assert chunk.actions.shape == (8, 14)
        assert np.array_equal(chunk.actions[-1], obs.joint_positions)
        assert chunk.observation_time == obs.timestamp and chunk.provenance == "noop"
        for key in ("preprocess_ms", "queue_ms", "infer_ms", "total_ms", "roundtrip_ms"):
            assert client.last_timing[key] >= 0.0
        assert client.last_timing["batch_size"] == 1
        client.reset()
        assert noop_server.policy.resets == 2  # once after warm-up, once now
        stats = client.stats()
        assert stats["requests"] == {"health": 1, "metadata": 1, "infer": 1, "reset": 1, "stats": 1}
        assert stats["infer_total_ms"]["n"] == 1 and stats["errors"] == {}
        assert stats["client"]["requests"] == 5


def test_remote_policy_is_a_policy_over_the_wire(noop_server, obs):
    with RemotePolicy(noop_server.endpoint, timeout_s=2.0) as policy:
        assert policy.metadata()["policy"] == "noop"
        assert isinstance(policy.infer(obs), ActionChunk)
        policy.reset()
        assert policy.last_timing["total_ms"] > 0


def test_ipc_endpoint_serves(tmp_path, obs):
    with PolicyServer(NoopPolicy(horizon=2), f"ipc://{tmp_path}/policy.sock") as server:
        with PolicyClient(server.endpoint) as client:
            assert client.infer(obs).horizon == 2


HOSTILE = {
    "garbage_header": [b"\x00\xff not msgpack"],
    "empty_header": [b""],
    "header_not_a_map": [msgpack.packb([1, 2])],
    "wrong_version": [msgpack.packb({"version": 99, "kind": "health", "id": 5})],
    "unknown_kind": [msgpack.packb({"version": 1, "kind": "shutdown", "id": 5})],
    "byte_count_mismatch": [msgpack.packb({"version": 1, "kind": "infer", "id": 5,
                                           "arrays": [["joint_positions", "float64", [14], 112]]}), b"\x00" * 100],
    "huge_declared_shape": [msgpack.packb({"version": 1, "kind": "infer", "id": 5,
                                           "arrays": [["images/a", "uint8", [2**31, 2**31, 3], 3 * 2**62]]}), b"x"],
    "frames_without_declaration": [msgpack.packb({"version": 1, "kind": "infer", "id": 5}), b"a", b"b"],
    "observation_missing_joints": [msgpack.packb({"version": 1, "kind": "infer", "id": 5, "body": {"timestamp": 1.0}})],
    "health_with_arrays": [msgpack.packb({"version": 1, "kind": "health", "id": 5,
                                          "arrays": [["x", "uint8", [1], 1]]}), b"\x00"],
    "reset_with_a_body": [msgpack.packb({"version": 1, "kind": "reset", "id": 5, "body": {"hard": True}})],
    "too_many_frames": [msgpack.packb({"version": 1, "kind": "infer", "id": 5})] + [b""] * 100,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_message_gets_an_error_reply_and_the_next_request_is_served(noop_server, raw_peer, name):
    raw_peer.send(HOSTILE[name])
    reply = raw_peer.recv()
    assert reply is not None, "the server must answer a malformed request with an error"
    body = error_body(reply)
    assert body["code"] in errors.ERROR_CODES
    assert "Traceback" not in body["message"]
    if name not in ("garbage_header", "empty_header", "header_not_a_map"):
        assert body["id"] == 5  # the error reaches the waiting call
    assert_still_serving(noop_server)
    assert sum(noop_server.stats.errors.values()) == 1


def test_oversized_frame_drops_that_connection_only(obs):
    limits = protocol.Limits(max_header_bytes=4096, max_frame_bytes=64 * 1024, max_total_bytes=256 * 1024)
    with PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0", limits=limits) as server:
        peer = RawPeer(server.endpoint)
        try:
            header = msgpack.packb({"version": 1, "kind": "infer", "id": 1,
                                    "arrays": [["images/a", "uint8", [1000, 1000, 3], 3_000_000]]})
            peer.send([header, b"\x00" * 3_000_000])  # over ZMQ_MAXMSGSIZE: libzmq disconnects the peer
            assert peer.recv(timeout_s=0.5) is None
        finally:
            peer.close()
        with PolicyClient(server.endpoint) as client:
            assert client.infer(obs).horizon == 16
            assert client.stats()["requests"].get("infer") == 1  # the oversized one never reached the loop


def test_an_image_over_the_total_limit_is_refused_with_too_large():
    limits = protocol.Limits(max_header_bytes=4096, max_frame_bytes=8 * 1024, max_total_bytes=10 * 1024)
    with PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0", limits=limits) as server:
        with PolicyClient(server.endpoint) as client:
            obs = make_observation(size=48)  # two images of 6.9 kB and 3.5 kB: over 10 kB together
            with pytest.raises(ServerError) as info:
                client.infer(obs)
            assert info.value.code == errors.TOO_LARGE
            assert client.health()["status"] == "ok"


class FailingPolicy(NoopPolicy):
    """Raises on instructions containing 'fail', returns NaN on 'nan', else behaves as NoopPolicy."""

    def infer(self, observation):
        if "fail" in observation.instruction:
            raise RuntimeError("model exploded")
        chunk = super().infer(observation)
        if "nan" in observation.instruction:
            chunk.actions[0, 0] = np.nan
        return chunk

    def reset(self):
        raise OSError("cannot reset")


def test_policy_failures_become_error_replies_without_tracebacks(obs):
    with PolicyServer(FailingPolicy(), "tcp://127.0.0.1:0", warmup_iters=0) as server:
        with PolicyClient(server.endpoint) as client:
            obs.instruction = "please fail"
            with pytest.raises(ServerError) as info:
                client.infer(obs)
            assert info.value.code == errors.POLICY_ERROR and "model exploded" in info.value.message
            assert "Traceback" not in info.value.message
            obs.instruction = "nan please"
            with pytest.raises(ServerError, match="non-finite"):
                client.infer(obs)
            with pytest.raises(ServerError, match="cannot reset"):
                client.reset()
            obs.instruction = "fine"
            assert client.infer(obs).is_finite()


def test_a_busy_port_is_a_readable_start_error(noop_server):
    with pytest.raises(ServerStartError, match="already in use"):
        PolicyServer(NoopPolicy(), noop_server.endpoint).start()


def test_non_loopback_bind_without_auth_is_refused():
    with pytest.raises(ServerStartError, match="without authentication"):
        PolicyServer(NoopPolicy(), "tcp://0.0.0.0:5555")


def test_stop_finishes_and_closes_the_socket(obs):
    server = PolicyServer(NoopPolicy(), "tcp://127.0.0.1:0").start_in_thread()
    endpoint = server.endpoint
    server.close()
    # The port is free again: a new server binds it.
    with PolicyServer(NoopPolicy(), endpoint) as again:
        with PolicyClient(again.endpoint) as client:
            assert client.health()["status"] == "ok"


frame = st.binary(max_size=40) | st.builds(
    lambda d: msgpack.packb(d),
    st.dictionaries(st.sampled_from(["version", "kind", "id", "arrays", "body", "x"]),
                    st.integers(-2, 3) | st.text(max_size=6) | st.lists(st.integers(0, 5), max_size=4),
                    max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(frame, min_size=1, max_size=4))
def test_random_malformed_messages_never_stop_the_server(noop_server, raw_peer, frames):
    raw_peer.send(frames)
    reply = raw_peer.recv(timeout_s=2.0)
    assert reply is not None
    msg = protocol.decode(reply, kinds=protocol.REPLY_KINDS)
    assert msg.kind in protocol.REPLY_KINDS
    raw_peer.send(protocol.encode("health", 77))
    health = protocol.decode(raw_peer.recv(), kinds=protocol.REPLY_KINDS)
    assert health.kind == "health" and health.id == 77


def test_router_never_blocks_on_a_peer_that_stopped_reading(noop_server):
    ctx = zmq.Context.instance()
    lazy = ctx.socket(zmq.DEALER)
    lazy.linger = 0
    lazy.rcvhwm = 1
    lazy.connect(noop_server.endpoint)
    try:
        for i in range(200):  # never reads its replies
            lazy.send_multipart(protocol.encode("health", i))
        assert_still_serving(noop_server)
    finally:
        lazy.close(linger=0)
