"""PolicyServer: serves one Policy over ZMQ ROUTER to any number of DEALER clients.

The server is only transport (the policy knows nothing of the network): it validates every
message (serving/protocol.py), answers health/metadata/reset/stats, runs infer requests one
by one or in dynamic batches, adds per-request timings to each reply, and turns any failure
into an error reply with a code and one line of text. Tracebacks stay in the server's log.

One thread does receive, inference and reply. On purpose: a thread hop costs ~50-100 us per
request in CPython, the transport budget is 250 us, and inference would hold the GIL or the
GPU anyway. While a (long) inference runs, new requests wait in ZMQ's queue (bounded by
RCVHWM per client) and are served next; control requests are answered between inferences.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import math
import os
import signal
import threading
import time
from typing import Any

import msgpack
import numpy as np
import zmq

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.policy import BatchPolicy, Policy, PolicyMetadata
from roboalign.errors import RoboAlignError, UsageError
from roboalign.serving import codec, errors, header_scan, logs, protocol
from roboalign.serving.auth import HandshakeMonitor, ServerAuth, ZapHandler
from roboalign.serving.endpoint import parse_endpoint
from roboalign.serving.errors import ProtocolError
from roboalign.serving.stats import ServerStats

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


class ServerStartError(RoboAlignError, RuntimeError):
    """The server could not start (address in use, cannot bind, ...); the message says why (exit 1)."""


class EndpointRefused(UsageError, ServerStartError):
    """The endpoint is malformed, or may not be served as configured (exit 2: change the flags)."""


@dataclasses.dataclass
class _Pending:
    identity: bytes
    request_id: int
    observation: Observation
    t_recv: float      # perf_counter seconds
    t_decoded: float


def _plain(obj: Any) -> Any:
    """Metadata as msgpack-able plain data (numpy scalars/arrays -> Python numbers/lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class PolicyServer:
    """Serve `policy` at `bind` (tcp://127.0.0.1:5555, ipc:///tmp/roboalign.sock, ...).

    max_batch > 1 turns on dynamic batching across clients for policies with `infer_batch`
    (waits at most max_wait_ms after the first request of a batch). Non-loopback binds need
    `auth` (CurveZMQ) unless allow_insecure_remote is set. Use serve_forever() in a process
    (stops on SIGINT/SIGTERM), or start_in_thread()/close() inside tests and tools.
    """

    def __init__(self, policy: Policy, bind: str, *, max_batch: int = 1, max_wait_ms: float = 2.0,
                 limits: protocol.Limits = protocol.DEFAULT_LIMITS, auth: ServerAuth | None = None,
                 warmup_iters: int = 2, recv_hwm: int = 16, poll_interval_s: float = 0.1,
                 allow_insecure_remote: bool = False, logger: logging.Logger | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        try:
            endpoint = parse_endpoint(bind)
        except ValueError as exc:
            raise EndpointRefused(str(exc)) from None
        if not endpoint.is_loopback and auth is None and not allow_insecure_remote:
            raise EndpointRefused(
                f"refusing to serve {bind} without authentication: anyone on the network could drive "
                "the robot. Bind tcp://127.0.0.1:PORT, turn on CurveZMQ (--auth-keys DIR), or pass "
                "--allow-insecure-remote on a trusted network"
            )
        self.policy = policy
        self.bind = bind
        self._endpoint = endpoint
        self.max_batch = int(max_batch)
        self.max_wait_s = max_wait_ms / 1000.0
        self.limits = limits
        self.auth = auth
        self.warmup_iters = int(warmup_iters)
        self.recv_hwm = int(recv_hwm)
        self.poll_interval_s = poll_interval_s
        self.log = logger or logging.getLogger(logs.LOGGER_NAME)
        self.stats = ServerStats()
        self._batched = max_batch > 1 and isinstance(policy, BatchPolicy)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self._zap: ZapHandler | None = None
        self._monitor: HandshakeMonitor | None = None
        self._metadata: dict[str, Any] = {}
        self._warn_limit = logs.RateLimited(per_second=10)
        self.endpoint: str | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> PolicyServer:
        """Read metadata, bind, warm up. Idempotent. Raises ServerStartError on a bad endpoint."""
        if self._sock is not None:
            return self
        try:  # one record for every policy (core.PolicyMetadata); a plain dict is checked against it
            meta = _plain(PolicyMetadata.coerce(self.policy.metadata()).to_dict())
        except (TypeError, ValueError) as exc:
            raise ServerStartError(f"{type(self.policy).__name__}.metadata() is not valid: {exc}") from None
        try:
            msgpack.packb(meta)
        except (TypeError, ValueError) as exc:
            raise ServerStartError(f"policy metadata must be plain data (str, numbers, lists, maps): {exc}") from None
        self._metadata = {**meta, "server": {
            "protocol_version": protocol.PROTOCOL_VERSION, "max_batch": self.max_batch if self._batched else 1,
            "max_wait_ms": self.max_wait_s * 1000.0, "auth": "curve" if self.auth else "none",
            "max_frame_bytes": self.limits.max_frame_bytes, "max_total_bytes": self.limits.max_total_bytes,
        }}
        self._ctx = zmq.Context()
        try:
            if self.auth is not None:
                self._zap = ZapHandler(self._ctx, self.auth.authorized_keys)  # before any connection
            sock = self._sock = self._ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_frame_bytes)  # per frame, checked by libzmq
            sock.setsockopt(zmq.RCVHWM, self.recv_hwm)
            sock.setsockopt(zmq.SNDHWM, 1000)
            sock.setsockopt(zmq.RCVTIMEO, int(self.poll_interval_s * 1000))
            sock.setsockopt(zmq.SNDTIMEO, 0)
            # A reply to a client that is gone raises EHOSTUNREACH instead of vanishing
            # silently, so undeliverable replies are counted (stats.dropped).
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            if ":" in self._endpoint.address:  # an IPv6 host: libzmq binds IPv4 only unless told
                sock.setsockopt(zmq.IPV6, 1)
            sock.setsockopt(zmq.TCP_KEEPALIVE, 1)  # notice robots that vanished without a FIN
            sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 30)
            if self.auth is not None:
                self.auth.apply(sock)
            self._monitor = HandshakeMonitor(sock, curve=self.auth is not None)
            sock.bind(self.bind)
        except zmq.ZMQError as exc:
            self._close_sockets()
            raise self._bind_error(exc) from None
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        # Bound first so a busy port fails fast; requests that arrive meanwhile wait in ZMQ.
        self._warm_up()
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        """What the metadata endpoint answers (valid after start())."""
        return self._metadata

    def _bind_error(self, exc: zmq.ZMQError) -> ServerStartError:
        if exc.errno == zmq.EADDRINUSE:  # another process holds it: a failed start (exit 1)
            return ServerStartError(f"{self.bind} is already in use (is another server running?); stop it or "
                                    "pick another port with --bind tcp://127.0.0.1:PORT")
        # No such folder or interface, no permission, an address of another machine: the
        # endpoint must change (exit 2).
        return EndpointRefused(f"cannot bind {self.bind}: {os.strerror(exc.errno)}; use tcp://127.0.0.1:PORT or "
                               "ipc:///path/to/socket (the folder must exist and be writable)")

    def _warm_up(self) -> None:
        """Run the policy a few times before announcing readiness (JIT, CUDA kernels, caches)."""
        if self.warmup_iters <= 0:
            return
        try:
            example = self._example_observation()
            t0 = time.perf_counter()
            for _ in range(self.warmup_iters):
                self.policy.infer(example)
            if self._batched:
                self.policy.infer_batch([example] * min(self.max_batch, 2))  # type: ignore[attr-defined]
            self.stats.warmup_ms = round((time.perf_counter() - t0) * 1000.0, 3)
            self.policy.reset()
            logs.event(self.log, "serve.warmup", iterations=self.warmup_iters, ms=self.stats.warmup_ms)
        except Exception as exc:
            logs.event(self.log, "serve.warmup_skipped", logging.WARNING,
                       reason=f"{type(exc).__name__}: {exc}"[:300])

    def _example_observation(self) -> Observation:
        make = getattr(self.policy, "example_observation", None)
        if callable(make):
            return make()
        meta = self._metadata
        h, w = (meta.get("image_size") or [224, 224])[:2]
        robot = meta.get("robot") or {}
        dim = meta.get("action_dim") or len(robot.get("joint_names", [])) or 7
        return Observation(images={c: np.zeros((h, w, 3), np.uint8) for c in meta.get("cameras", [])},
                           joint_positions=np.zeros(dim), instruction="warm-up")

    def serve_forever(self, install_signal_handlers: bool = True) -> None:
        """Serve until stop(), SIGINT or SIGTERM; finishes queued inferences, then closes."""
        self.start()
        previous = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda signum, _frame: self._on_signal(signum))
        # Objects alive now (modules, the policy, its weights) never need collecting: freezing
        # them keeps the cyclic GC's pauses short while serving.
        gc.collect()
        gc.freeze()
        try:
            self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_sockets()
            logs.event(self.log, "serve.stopped", requests=sum(self.stats.requests.values()),
                       errors=sum(self.stats.errors.values()))

    def _on_signal(self, signum: int) -> None:
        logs.event(self.log, "serve.stopping", signal=signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        """Ask the loop to finish (thread-safe; returns at once)."""
        self._stop.set()

    def start_in_thread(self) -> PolicyServer:
        """Bind and warm up here, then serve from a daemon thread (tests, in-process tools)."""
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"install_signal_handlers": False},
                                        name="policy-server", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        else:
            self._close_sockets()

    def __enter__(self) -> PolicyServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_sockets(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        if self._sock is not None:
            self._sock.close(linger=1000)  # flush replies for up to 1 s
            self._sock = None
        if self._zap is not None:
            self._zap.close()
            self._zap = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    # ---- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        sock = self._sock
        assert sock is not None
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if self._zap is not None:
            poller.register(self._zap.socket, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor.socket, zmq.POLLIN)
        capacity = self.max_batch if self._batched else 1
        pending: list[_Pending] = []
        while not self._stop.is_set():
            if pending:
                wait = pending[0].t_recv + self.max_wait_s - time.perf_counter()
                timeout_ms = max(0, math.ceil(wait * 1000.0))
            else:
                timeout_ms = int(self.poll_interval_s * 1000)
            events = dict(poller.poll(timeout_ms))
            try:
                if self._zap is not None and self._zap.socket in events:
                    self._answer_zap()
                if self._monitor is not None and self._monitor.socket in events:
                    for reason in self._monitor.failures():
                        self.stats.auth_rejected_handshake += 1
                        self._warn("serve.handshake_failed", reason=reason)
                if sock in events:
                    # EVENTS rather than catching zmq.Again: no exception on the hot path.
                    while len(pending) < capacity and sock.get(_EVENTS) & _POLLIN:
                        frames = protocol.recv_frames(sock, protocol.NOBLOCK)
                        item = self._handle(frames)
                        if item is not None:
                            pending.append(item)
                if pending and (len(pending) >= capacity
                                or time.perf_counter() >= pending[0].t_recv + self.max_wait_s):
                    batch, pending = pending, []
                    self._run(batch)
            except Exception:
                self.log.exception("serving loop error (continuing)")
        if pending:  # graceful: nobody who was accepted is left waiting
            self._run(pending)

    def _answer_zap(self) -> None:
        assert self._zap is not None
        ok, address, key = self._zap.handle()
        if ok:
            self.stats.auth_accepted += 1
        else:
            self.stats.auth_rejected_key += 1
            self._warn("serve.auth_rejected", address=address, client_key=key or "?")

    def _warn(self, name: str, **fields: Any) -> None:
        if self._warn_limit.allow():
            suppressed = self._warn_limit.take_suppressed()
            if suppressed:
                fields["suppressed_since_last"] = suppressed
            logs.event(self.log, name, logging.WARNING, **fields)

    def _send(self, identity: bytes, frames: list) -> None:
        try:
            protocol.send_frames(self._sock, [identity, *frames])  # ROUTER: never blocks
            self.stats.replies += 1
        except zmq.ZMQError as exc:  # ROUTER_MANDATORY: the peer is gone, or its queue is full
            reason = "client_gone" if exc.errno == zmq.EHOSTUNREACH else "client_not_reading"
            self.stats.drop(reason)
            self._warn("serve.reply_dropped", reason=reason, detail=exc.strerror)

    def _reply_error(self, identity: bytes, request_id: int | None, code: str, message: str,
                     kind: str = "") -> None:
        self.stats.errors[code] += 1
        self._warn("serve.request_rejected", code=code, request_id=request_id, kind=kind, reason=message[:200])
        self._send(identity, protocol.encode_error(request_id, code, message, kind))

    def _handle(self, frames: list) -> _Pending | None:
        """Decode one message; answer it now, or return it for inference."""
        t_recv = time.perf_counter()
        if len(frames) < 2:  # no envelope or no header: nothing we could reply to
            self.stats.drop("no_header")
            return None
        identity = frames[0].bytes
        try:
            msg = protocol.decode(frames[1:], self.limits)
        except ProtocolError as exc:
            self._reply_error(identity, exc.request_id, exc.code, exc.message)
            return None
        except Exception as exc:
            self.log.exception("decoding a request failed")
            rid = header_scan.scan(frames[1].bytes[:self.limits.max_header_bytes], self.limits).request_id
            self._reply_error(identity, rid, errors.INTERNAL, f"{type(exc).__name__} while decoding the request")
            return None
        self.stats.requests[msg.kind] += 1
        try:
            if msg.kind == "infer":
                obs = codec.observation_from_wire(msg, self.limits)
                return _Pending(identity, msg.id, obs, t_recv, time.perf_counter())
            if msg.arrays or msg.body:  # control requests carry nothing: refuse what is not understood
                raise ProtocolError(errors.BAD_MESSAGE, f"{msg.kind} requests take no arrays and an empty body", msg.id)
            if msg.kind == "health":
                body = {"status": "ok", "policy": self._metadata.get("policy", type(self.policy).__name__),
                        "model_id": self._metadata.get("model_id"), "protocol_version": protocol.PROTOCOL_VERSION,
                        "uptime_s": round(time.monotonic() - self.stats.started, 3)}
            elif msg.kind == "metadata":
                body = self._metadata
            elif msg.kind == "stats":
                body = self.stats.snapshot()
            elif msg.kind == "reset":
                self.policy.reset()
                body = {"reset": True}
            else:  # unreachable: decode() only admits REQUEST_KINDS
                raise ProtocolError(errors.UNKNOWN_KIND, msg.kind, msg.id)
        except ProtocolError as exc:
            self._reply_error(identity, msg.id, exc.code, exc.message, msg.kind)
            return None
        except Exception as exc:
            code = errors.POLICY_ERROR if msg.kind == "reset" else errors.INTERNAL
            self.log.exception("request failed (kind=%s id=%s)", msg.kind, msg.id)
            self._reply_error(identity, msg.id, code, f"{type(exc).__name__}: {exc}", msg.kind)
            return None
        self._send(identity, protocol.encode(msg.kind, msg.id, body))
        return None

    def _run(self, batch: list[_Pending]) -> None:
        """Infer a batch (or one request) and reply to each client, with its timings."""
        self.stats.batch_sizes[len(batch)] += 1
        results: list[ActionChunk | BaseException] = []
        t_start = time.perf_counter()
        if len(batch) > 1:
            try:
                out = list(self.policy.infer_batch([p.observation for p in batch]))  # type: ignore[attr-defined]
                if len(out) != len(batch):
                    raise ValueError(f"infer_batch returned {len(out)} chunks for {len(batch)} observations")
                results = out
                ends = [time.perf_counter()] * len(batch)
                starts = [t_start] * len(batch)
            except Exception:
                self.log.exception("infer_batch failed for a batch of %d; retrying one by one", len(batch))
                results = []
        if not results:
            starts, ends = [], []
            for p in batch:
                starts.append(time.perf_counter())
                try:
                    results.append(self.policy.infer(p.observation))
                except Exception as exc:
                    self.log.exception("policy.infer failed (request id %s)", p.request_id)
                    results.append(exc)
                ends.append(time.perf_counter())
        extra = getattr(self.policy, "last_timings_ms", None)
        extra = dict(extra) if isinstance(extra, dict) else {}
        for p, result, t0, t1 in zip(batch, results, starts, ends):
            if isinstance(result, BaseException):
                self._reply_error(p.identity, p.request_id, errors.POLICY_ERROR,
                                  f"{type(result).__name__}: {result}", "infer")
                continue
            if not isinstance(result, ActionChunk) or not np.isfinite(result.actions).all():
                what = type(result).__name__ if not isinstance(result, ActionChunk) else "non-finite actions"
                self._reply_error(p.identity, p.request_id, errors.POLICY_ERROR,
                                  f"policy returned {what}, expected a finite ActionChunk", "infer")
                continue
            infer_ms = (t1 - t0) * 1000.0
            timing = {"preprocess_ms": (p.t_decoded - p.t_recv) * 1000.0, "queue_ms": (t0 - p.t_decoded) * 1000.0,
                      "infer_ms": infer_ms, "batch_size": len(batch), **extra}
            timing["total_ms"] = (time.perf_counter() - p.t_recv) * 1000.0
            body, arrays = codec.chunk_to_wire(result, timing)
            self._send(p.identity, protocol.encode("infer", p.request_id, body, arrays))
            self.stats.record_infer(timing["total_ms"], infer_ms)
