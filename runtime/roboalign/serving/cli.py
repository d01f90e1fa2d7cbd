"""`roboalign serve` and `roboalign keys generate`.

    roboalign serve --policy noop --bind tcp://127.0.0.1:5555
    roboalign serve --policy expert --bind ipc:///tmp/roboalign.sock --max-batch 8 --max-wait-ms 2
    roboalign serve --policy PATH --auth-keys ~/.roboalign/keys
    roboalign keys generate --out ~/.roboalign/keys [--client robot1 --client eval]
"""
from __future__ import annotations

import argparse
from typing import Any

from roboalign.arguments import float_range, int_range
from roboalign.errors import RoboAlignError, UsageError
from roboalign.serving.endpoint import EXPECTED_FORM, parse_endpoint

DEFAULT_BIND = "tcp://127.0.0.1:5555"
READY_PREFIX = "roboalign serve: ready"
# Bounds of the numeric flags. max_batch: the stats reply lists one histogram entry per batch
# size, and a map in a header holds at most Limits.max_container_len (256) items.
MAX_BATCH = 256
MAX_WAIT_MS = 1000.0
MIN_FRAME_MB = 64 / 1024   # one header (Limits.max_header_bytes, 64 KiB) must fit in a frame
MAX_MB = 4096.0


def _bind_endpoint(text: str) -> str:
    """argparse type for --bind: a well-formed tcp or ipc endpoint (loopback is checked later,
    when --auth-keys and --allow-insecure-remote are known)."""
    try:
        endpoint = parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if endpoint.transport == "inproc":
        raise argparse.ArgumentTypeError(f"inproc:// is reachable only inside this process; expected {EXPECTED_FORM}")
    return text


_bind_endpoint.__name__ = "endpoint"


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="serve a policy over ZMQ (the inference server)",
                                  description="Serve a policy over ZMQ; see docs/protocol.md.")
    serve.add_argument("--policy", default="expert",
                       help="registered kind (expert, noop, ...) or a checkpoint folder (default: expert)")
    serve.add_argument("--policy-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument for the policy factory, value parsed as YAML (repeatable), "
                            "e.g. --policy-arg horizon=16")
    serve.add_argument("--bind", default=DEFAULT_BIND, type=_bind_endpoint,
                       help=f"tcp://HOST:PORT (PORT 0-65535; 0 picks a free one) or ipc://PATH (default {DEFAULT_BIND}); "
                            "hosts other than loopback need --auth-keys")
    serve.add_argument("--max-batch", type=int_range(1, MAX_BATCH), default=1,
                       help=f"dynamic batching across clients: largest batch, 1..{MAX_BATCH} "
                            "(1 = off; needs a policy with infer_batch)")
    serve.add_argument("--max-wait-ms", type=float_range(0.0, MAX_WAIT_MS), default=2.0,
                       help="dynamic batching: longest wait for a batch to fill, after its first request "
                            f"(ms, 0..{MAX_WAIT_MS:g})")
    serve.add_argument("--max-frame-mb", type=float_range(MIN_FRAME_MB, MAX_MB), default=32.0,
                       help="largest accepted frame (one image); larger frames drop the connection "
                            f"(MiB, {MIN_FRAME_MB:g}..{MAX_MB:g})")
    serve.add_argument("--max-request-mb", type=float_range(MIN_FRAME_MB, MAX_MB), default=128.0,
                       help=f"largest accepted request in total (MiB, at least --max-frame-mb, at most {MAX_MB:g})")
    serve.add_argument("--warmup", type=int_range(0, 1000), default=2,
                       help="warm-up inferences before announcing ready (0..1000)")
    serve.add_argument("--auth-keys", metavar="DIR",
                       help="turn on CurveZMQ: DIR holds server.key_secret and authorized_clients/*.key "
                            "(written by `roboalign keys generate`)")
    serve.add_argument("--authorized-clients", metavar="DIR", help="override DIR/authorized_clients")
    serve.add_argument("--allow-insecure-remote", action="store_true",
                       help="allow a non-loopback bind without --auth-keys (trusted networks only)")
    serve.add_argument("--log-json", action="store_true", help="JSON-lines logs on stderr")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=run_serve)

    keys = subparsers.add_parser("keys", help="CurveZMQ keys for an authenticated inference server")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    gen = keys_sub.add_parser("generate", help="write server and client key pairs (owner-only files)")
    gen.add_argument("--out", required=True, metavar="DIR", help="folder for the keys (created with mode 0700)")
    gen.add_argument("--client", action="append", default=[], metavar="NAME",
                     help="client name (repeatable; default: one client named 'client')")
    gen.add_argument("--force", action="store_true", help="replace existing keys in DIR")
    gen.set_defaults(func=run_keys_generate)
    keys.set_defaults(func=lambda args: (keys.print_help(), 2)[1])


def _policy_kwargs(pairs: list[str]) -> dict[str, Any]:
    """--policy-arg KEY=VALUE (repeatable) -> keyword arguments; values parsed as YAML, the same
    parser as every --set (roboalign.config.parse_override)."""
    from roboalign.config import parse_override

    out: dict[str, Any] = {}
    for pair in pairs:
        keypath, value = parse_override(pair, flag="--policy-arg")
        if len(keypath) != 1 or not keypath[0].isidentifier():
            raise UsageError(f"--policy-arg {pair!r}: expected KEY=VALUE with KEY a Python identifier")
        out[keypath[0]] = value
    return out


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM. Mistakes raise UsageError (exit 2), failed starts
    RoboAlignError (exit 1); roboalign.cli prints either as one line."""
    from roboalign.policy.registry import PolicyLoadError, load_policy
    from roboalign.serving import logs, protocol
    from roboalign.serving.auth import ServerAuth
    from roboalign.serving.server import PolicyServer

    if args.max_request_mb < args.max_frame_mb:
        raise UsageError(f"--max-request-mb {args.max_request_mb:g} is smaller than --max-frame-mb "
                         f"{args.max_frame_mb:g}; a request holds at least one frame")
    log = logs.configure(as_json=args.log_json, level=args.log_level)
    limits = protocol.Limits.for_megabytes(args.max_frame_mb, args.max_request_mb)
    try:
        auth = ServerAuth.from_dir(args.auth_keys, args.authorized_clients) if args.auth_keys else None
    except (OSError, ValueError) as exc:  # missing, unreadable or malformed key files
        raise UsageError(f"--auth-keys: {exc}") from None
    try:
        policy = load_policy(args.policy, **_policy_kwargs(args.policy_arg))
    except PolicyLoadError as exc:
        raise UsageError(str(exc)) from None
    # EndpointRefused (a usage error) and ServerStartError (a failed bind) speak for themselves.
    server = PolicyServer(policy, args.bind, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                          limits=limits, auth=auth, warmup_iters=args.warmup,
                          allow_insecure_remote=args.allow_insecure_remote, logger=log)
    server.start()
    meta = server.metadata
    batching = f"max batch {meta['server']['max_batch']}, max wait {args.max_wait_ms:g} ms"
    print(f"{READY_PREFIX} at {server.endpoint} (policy {meta.get('policy', args.policy)}, "
          f"model {meta.get('model_id')}, protocol v{protocol.PROTOCOL_VERSION}, {batching}, "
          f"auth {'curve' if auth else 'off'})", flush=True)
    logs.event(log, "serve.ready", endpoint=server.endpoint, policy=meta.get("policy"), model_id=meta.get("model_id"),
               max_batch=meta["server"]["max_batch"], auth="curve" if auth else "off")
    server.serve_forever()
    return 0


def run_keys_generate(args: argparse.Namespace) -> int:
    from roboalign.serving.auth import generate_keys

    clients = tuple(args.client) or ("client",)
    try:
        written = generate_keys(args.out, clients, overwrite=args.force)
    except (FileExistsError, ValueError) as exc:  # keys already there, or a bad client name
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write keys to {args.out}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # a libzmq without CURVE
        raise RoboAlignError(str(exc)) from None
    print(f"wrote {len(written)} key files to {args.out} (mode 0600):")
    for name in sorted(written):
        print(f"  {name}")
    print(f"server: roboalign serve --auth-keys {args.out} ...")
    print(f"client: copy {', '.join(c + '.key_secret' for c in clients)} and server.key to each robot; "
          f"PolicyClient(endpoint, auth=ClientAuth.from_dir(DIR, NAME))")
    return 0
