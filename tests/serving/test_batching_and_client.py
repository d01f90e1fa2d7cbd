"""Dynamic batching across clients, and the client's deadline / recovery / stale-reply rules."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq
from serving_helpers import make_observation

from roboalign.policy.noop import NoopPolicy
from roboalign.serving import protocol
from roboalign.serving.client import PolicyClient
from roboalign.serving.errors import ClientClosed, RequestTimeout
from roboalign.serving.server import PolicyServer


class RecordingBatchPolicy(NoopPolicy):
    """NoopPolicy that records the size of every infer_batch call (to see batching happen)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.batch_calls: list[int] = []

    def infer_batch(self, observations):
        self.batch_calls.append(len(observations))
        return super().infer_batch(observations)


def test_concurrent_clients_are_batched_and_each_gets_its_own_reply():
    policy = RecordingBatchPolicy(horizon=4, dim=14)
    n_clients, n_requests = 6, 8
    with PolicyServer(policy, "tcp://127.0.0.1:0", max_batch=8, max_wait_ms=20.0) as server:
        results: dict[int, list[bool]] = {}
        batch_sizes: list[int] = []
        barrier = threading.Barrier(n_clients)
        failures: list[BaseException] = []

        def run(client_index: int) -> None:
            try:
                with PolicyClient(server.endpoint, timeout_s=5.0) as client:
                    barrier.wait()
                    ok = []
                    for k in range(n_requests):
                        obs = make_observation(seed=100 * client_index + k, size=16)
                        chunk = client.infer(obs)
                        # The noop chunk holds exactly this observation's joints: proof of routing.
                        ok.append(bool(np.array_equal(chunk.actions[0], obs.joint_positions))
                                  and chunk.observation_time == obs.timestamp)
                        batch_sizes.append(int(client.last_timing["batch_size"]))
                    results[client_index] = ok
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not failures, failures
        assert all(all(ok) for ok in results.values()) and len(results) == n_clients
        assert max(batch_sizes) > 1, "concurrent clients should share batches"
        assert max(policy.batch_calls) > 1
        stats = server.stats.snapshot()
        assert stats["max_batch_seen"] > 1 and stats["requests"]["infer"] == n_clients * n_requests


def test_without_infer_batch_requests_are_served_one_by_one(obs):
    class Plain:
        def __init__(self):
            self.inner = NoopPolicy()

        def infer(self, o):
            return self.inner.infer(o)

        def metadata(self):
            return self.inner.metadata()

        def reset(self):
            pass

    with PolicyServer(Plain(), "tcp://127.0.0.1:0", max_batch=8) as server:
        assert server.metadata["server"]["max_batch"] == 1
        with PolicyClient(server.endpoint) as client:
            client.infer(obs)
            assert client.last_timing["batch_size"] == 1


class SlowPolicy(NoopPolicy):
    """Takes `delay_s` on instructions containing 'slow'."""

    def __init__(self, delay_s: float):
        super().__init__()
        self.delay_s = delay_s

    def infer(self, observation):
        if "slow" in observation.instruction:
            time.sleep(self.delay_s)
        return super().infer(observation)


def test_timeout_resets_the_socket_and_the_late_reply_is_never_returned():
    with PolicyServer(SlowPolicy(delay_s=0.4), "tcp://127.0.0.1:0", warmup_iters=0) as server:
        with PolicyClient(server.endpoint, timeout_s=0.15) as client:
            slow = make_observation(seed=1)
            slow.instruction = "slow please"
            t0 = time.monotonic()
            with pytest.raises(RequestTimeout):
                client.infer(slow)
            assert time.monotonic() - t0 < 0.35  # the deadline holds
            assert client.counters["reconnects"] == 1
            fast = make_observation(seed=2)
            chunk = client.infer(fast, timeout_s=2.0)  # waits behind the slow one, then its own reply
            assert np.array_equal(chunk.actions[0], fast.joint_positions)
            assert not np.array_equal(chunk.actions[0], slow.joint_positions)
            assert client.health()["status"] == "ok"


def test_replies_with_another_request_id_are_dropped_as_stale():
    """A hand-written ROUTER peer answers each request twice: first with a stale id, then right."""
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if router.poll(50):
                ident, *frames = router.recv_multipart()
                msg = protocol.decode(frames)
                router.send_multipart([ident, *protocol.encode("health", msg.id + 1000, {"status": "stale"})])
                router.send_multipart([ident, *protocol.encode("health", msg.id, {"status": "ok"})])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with PolicyClient(f"tcp://127.0.0.1:{port}", timeout_s=2.0) as client:
            assert client.health()["status"] == "ok"
            assert client.health()["status"] == "ok"
            assert client.counters["stale_replies_dropped"] == 2
    finally:
        stop.set()
        thread.join(2)
        router.close(linger=0)


def test_no_server_means_a_timeout_within_the_deadline(free_tcp_endpoint, obs):
    with PolicyClient(free_tcp_endpoint, timeout_s=0.1) as client:
        t0 = time.monotonic()
        with pytest.raises(RequestTimeout):
            client.infer(obs)
        assert time.monotonic() - t0 < 0.5
        with pytest.raises(RequestTimeout):
            client.health()


def test_a_client_that_outlives_its_server_recovers_when_it_returns(free_tcp_endpoint, obs):
    with PolicyClient(free_tcp_endpoint, timeout_s=0.2) as client:
        with pytest.raises(RequestTimeout):
            client.health()
        with PolicyServer(NoopPolicy(), free_tcp_endpoint):
            assert client.wait_until_ready(timeout_s=5.0)["status"] == "ok"
            assert client.infer(obs).horizon == 16


def test_closed_client_raises_client_closed(noop_server):
    client = PolicyClient(noop_server.endpoint)
    client.close()
    with pytest.raises(ClientClosed):
        client.health()
