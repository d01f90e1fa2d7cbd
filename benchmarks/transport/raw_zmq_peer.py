"""The floor: a bare ROUTER that answers every message with a fixed 16x14 float64 reply.

No header parsing, no validation, no policy: what any Python ZMQ server pays for the same
payload on this machine. bench_transport.py reports it beside the full protocol, so the
protocol's own cost (the difference) is visible apart from the machine's transport cost.

    python raw_zmq_peer.py ENDPOINT      prints "ready", serves until SIGTERM
"""
from __future__ import annotations

import signal
import sys

import numpy as np
import zmq


def main(endpoint: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    reply = [b"h" * 200, np.zeros((16, 14)).tobytes()]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        if sock.poll(100):
            frames = sock.recv_multipart(copy=False)
            sock.send_multipart([frames[0], *reply])
    sock.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    main(sys.argv[1])
