"""Transport benchmark: RoboAlign ZMQ protocol vs openpi-client's websocket + msgpack-numpy.

Payload (both sides): two 224x224x3 uint8 images + a 14-D state in, a 16x14 chunk out, served
by a no-op policy in a separate server process on the loopback interface. Our side runs the
full protocol with every validation on (server and client), through PolicyClient and a
`roboalign serve --policy noop` subprocess. The peer runs openpi_client.WebsocketClientPolicy
against an equivalent no-op websocket server, both in their own venv (openpi-client 0.1.2
pins numpy<2), created on first use at benchmarks/transport/.venv-openpi (gitignored).

Measurements alternate between transports in rounds, so load from other processes on the
machine hits every side alike. Run from the repository root:

    .venv/bin/python benchmarks/transport/bench_transport.py --requests 2000 --json out.json

Targets (issue 7): p50 <= 0.25 ms on tcp loopback, and >= 2x faster than the websocket peer.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq

from roboalign.core.observation import Observation
from roboalign.serving.client import PolicyClient
from roboalign.serving.process import ServerProcess, free_tcp_endpoint

HERE = Path(__file__).resolve().parent
# openpi-client imports typing_extensions without declaring it, so it is named here too.
OPENPI_PACKAGES = ("openpi-client==0.1.2", "typing-extensions")


def ensure_openpi_python(venv: Path) -> Path:
    """The peer's interpreter: a venv holding openpi-client (and its numpy<2), made on first use."""
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import openpi_client.websocket_client_policy, websockets.asyncio.server"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    print(f"creating {venv} with {' '.join(OPENPI_PACKAGES)} (one time, ~15 s)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *OPENPI_PACKAGES], check=True)
    subprocess.run(probe, check=True)
    return py


def make_observation() -> Observation:
    rng = np.random.default_rng(0)
    return Observation(
        images={"front": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
                "wrist": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)},
        joint_positions=np.arange(14, dtype=np.float64), instruction="pick up the red block",
        timestamp=time.time(),
    )


class ZmqSide:
    """`roboalign serve --policy noop` in a subprocess + a PolicyClient."""

    def __init__(self, name: str, bind: str, copy_threshold: int | None) -> None:
        self.name = name
        self.server = ServerProcess("noop", bind=bind, extra_args=[
            "--policy-arg", "horizon=16", "--policy-arg", "dim=14", "--policy-arg", "cameras=[front, wrist]",
            "--log-level", "WARNING"]).start()
        kwargs = {} if copy_threshold is None else {"copy_threshold": copy_threshold}
        self.client = PolicyClient(self.server.endpoint, timeout_s=5.0, **kwargs)
        self.obs = make_observation()
        self.server_total_ms: list[float] = []

    def run(self, n: int) -> list[float]:
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            chunk = self.client.infer(self.obs)
            lat.append((time.perf_counter() - t0) * 1000.0)
            self.server_total_ms.append(self.client.last_timing["total_ms"])
        assert chunk.actions.shape == (16, 14) and np.array_equal(chunk.actions[3], self.obs.joint_positions)
        return lat

    def close(self) -> None:
        self.client.close()
        self.server.stop()


class RawZmqFloor:
    """A bare DEALER -> ROUTER echo with the same frames: the machine's ZMQ floor, no protocol."""

    def __init__(self, endpoint: str) -> None:
        self.name = "raw_zmq_tcp_floor"
        self.server = subprocess.Popen([sys.executable, str(HERE / "raw_zmq_peer.py"), endpoint],
                                       stdout=subprocess.PIPE, text=True)
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError("raw ZMQ peer did not start")
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)
        obs = make_observation()
        self.frames = [b"h" * 150, obs.images["front"], obs.images["wrist"], obs.joint_positions]

    def run(self, n: int) -> list[float]:
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.sock.send_multipart(self.frames, copy=False)
            self.sock.recv_multipart(copy=False)
            lat.append((time.perf_counter() - t0) * 1000.0)
        return lat

    def close(self) -> None:
        self.sock.close(linger=0)
        self.server.terminate()
        self.server.wait(10)


class OpenpiSide:
    """The websocket server and the openpi client, both in the openpi venv."""

    def __init__(self, python: Path) -> None:
        self.name = "openpi_websocket_tcp"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        peer = str(HERE / "openpi_peer.py")
        self.server = subprocess.Popen([str(python), peer, "serve", "--port", str(port)],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError("openpi peer server did not start")
        self.client = subprocess.Popen([str(python), peer, "client", "--port", str(port)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = json.loads(self.client.stdout.readline())
        assert hello.get("ready"), hello

    def run(self, n: int) -> list[float]:
        self.client.stdin.write(json.dumps({"run": n}) + "\n")
        self.client.stdin.flush()
        return json.loads(self.client.stdout.readline())["latencies_ms"]

    def close(self) -> None:
        try:
            self.client.stdin.write("quit\n")
            self.client.stdin.flush()
            self.client.wait(10)
        finally:
            self.server.terminate()
            self.server.wait(10)


def summary(lat: list[float]) -> dict[str, float]:
    a = np.asarray(lat)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50_ms": round(float(p50), 4), "p90_ms": round(float(p90), 4), "p99_ms": round(float(p99), 4),
            "mean_ms": round(float(a.mean()), 4), "n": int(a.size)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per transport (>= 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds the requests are split into")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per transport first")
    parser.add_argument("--openpi-venv", type=Path, default=HERE / ".venv-openpi")
    parser.add_argument("--no-openpi", action="store_true", help="skip the websocket peer")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    openpi_python = None if args.no_openpi else ensure_openpi_python(args.openpi_venv)
    makers = [lambda: ZmqSide("roboalign_zmq_tcp", free_tcp_endpoint(), None),
              lambda: ZmqSide("roboalign_zmq_ipc", f"ipc:///tmp/roboalign-bench-{os.getpid()}.sock", None),
              lambda: ZmqSide("roboalign_zmq_tcp_zerocopy", free_tcp_endpoint(), 0),
              lambda: RawZmqFloor(free_tcp_endpoint())]
    if openpi_python is not None:
        makers.append(lambda: OpenpiSide(openpi_python))
    sides: list = []
    try:
        for make in makers:  # inside try: a side that fails to start never leaks the others
            sides.append(make())
        lat: dict[str, list[float]] = {s.name: [] for s in sides}
        for s in sides:
            s.run(args.warmup)
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for s in sides:
                lat[s.name] += s.run(per_round)
        server_ms = {s.name: summary(s.server_total_ms[args.warmup:]) for s in sides if isinstance(s, ZmqSide)}
    finally:
        for s in sides:
            s.close()

    results = {name: summary(v) for name, v in lat.items()}
    out = {
        "benchmark": "transport round trip, no-op policy, separate server process, loopback",
        "payload": {"request": "2 x uint8[224,224,3] + float64[14] + instruction",
                    "reply_roboalign": "float64[16,14] (ActionChunk is float64) + timings",
                    "reply_openpi": "float32[16,14]"},
        "results": results,
        "server_side_total_ms": server_ms,
        "machine": {"cpus": os.cpu_count(), "loadavg_after": os.getloadavg(), "python": platform.python_version(),
                    "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    tcp = results["roboalign_zmq_tcp"]["p50_ms"]
    targets = {"tcp_p50_ms": tcp, "tcp_p50_le_0.25ms": tcp <= 0.25}
    if "openpi_websocket_tcp" in results:
        ws = results["openpi_websocket_tcp"]
        out["ratios"] = {
            "p50_openpi_over_roboalign_tcp": round(ws["p50_ms"] / tcp, 3),
            "p99_openpi_over_roboalign_tcp": round(ws["p99_ms"] / results["roboalign_zmq_tcp"]["p99_ms"], 3),
            "p50_openpi_over_roboalign_ipc": round(ws["p50_ms"] / results["roboalign_zmq_ipc"]["p50_ms"], 3),
        }
        targets["ge_2x_faster_than_websocket_p50"] = out["ratios"]["p50_openpi_over_roboalign_tcp"] >= 2.0
    out["targets"] = targets
    text = json.dumps(out, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
