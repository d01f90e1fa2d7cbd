"""The peer side of bench_transport.py: openpi-client's websocket + msgpack-numpy transport.

Runs inside its own venv (openpi-client 0.1.2 pins numpy<2, which cannot share the main
venv); never imports roboalign. Two roles:

    python openpi_peer.py serve --port P      a no-op websocket policy server, built the way
                                              openpi's WebsocketPolicyServer is (asyncio
                                              websockets, compression off, metadata on connect,
                                              msgpack-numpy both ways)
    python openpi_peer.py client --port P     connects openpi_client.WebsocketClientPolicy and
                                              answers commands on stdin, one JSON line each:
                                              {"run": N} -> {"latencies_ms": [...]}; "quit" ends

The observation and reply carry the same payload as the ZMQ side: two 224x224x3 uint8 images
and a 14-D state in, a 16x14 float32 chunk out (the chunk holds the state, like NoopPolicy).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import numpy as np


def serve(port: int, horizon: int) -> None:
    import websockets.asyncio.server
    from openpi_client import msgpack_numpy

    packer = msgpack_numpy.Packer()

    async def handler(ws) -> None:
        await ws.send(packer.pack({"policy": "noop", "horizon": horizon}))
        while True:
            try:
                obs = msgpack_numpy.unpackb(await ws.recv())
            except websockets.ConnectionClosed:
                return
            state = np.asarray(obs["observation/state"], dtype=np.float32)
            actions = np.repeat(state[None, :], horizon, axis=0)
            await ws.send(packer.pack({"actions": actions}))

    async def main() -> None:
        async with websockets.asyncio.server.serve(handler, "127.0.0.1", port, compression=None,
                                                   max_size=None) as server:
            print("ready", flush=True)
            await server.serve_forever()

    asyncio.run(main())


def client(port: int) -> None:
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    deadline = time.monotonic() + 30.0
    while True:
        try:
            policy = WebsocketClientPolicy(host="127.0.0.1", port=port)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    rng = np.random.default_rng(0)
    obs = {
        "observation/image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
        "observation/state": np.arange(14, dtype=np.float64),
        "prompt": "pick up the red block",
    }
    print(json.dumps({"ready": True, "metadata": policy.get_server_metadata()}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit" or not cmd:
            break
        n = int(json.loads(cmd)["run"])
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = policy.infer(obs)
            lat.append((time.perf_counter() - t0) * 1000.0)
        assert out["actions"].shape == (16, 14) and out["actions"].dtype == np.float32
        print(json.dumps({"latencies_ms": lat}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "client"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--horizon", type=int, default=16)
    args = parser.parse_args()
    serve(args.port, args.horizon) if args.role == "serve" else client(args.port)
