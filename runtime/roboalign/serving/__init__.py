"""Serving: the inference server process and its clients, over ZMQ (spec: docs/protocol.md).

    protocol.py  wire format v1: msgpack header + raw array frames, validation, limits
    codec.py     Observation / ActionChunk <-> message body and arrays
    server.py    PolicyServer (ROUTER): endpoints, dynamic batching, timings, shutdown
    client.py    PolicyClient (DEALER) with deadlines and recovery; RemotePolicy wrapper
    process.py   ServerProcess: `roboalign serve` as a subprocess (rollout, tests)
    auth.py      CurveZMQ keys and the ZAP handler
    cli.py       `roboalign serve`, `roboalign keys generate`

Kept free of imports here so `roboalign --help` stays instant.
"""
