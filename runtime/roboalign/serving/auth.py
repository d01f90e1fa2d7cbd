"""Optional CurveZMQ authentication and encryption for the policy server.

`roboalign keys generate --out DIR` writes (all files 0600, DIR 0700):

    DIR/server.key, DIR/server.key_secret            the server's key pair
    DIR/<client>.key, DIR/<client>.key_secret        one pair per client name
    DIR/authorized_clients/<client>.key              public keys the server accepts

Files use ZeroMQ's certificate format, so zmq.auth tools read them too. Copy
`<client>.key_secret` and `server.key` to the robot; keep `server.key_secret` on the server.
With auth on, the server answers the ZAP handshake itself (ZapHandler, polled in its loop):
only listed client public keys pass; everyone else is refused before a single request frame
is read, and the refusal is counted and logged. Handshakes that fail before ZAP is asked (a
client without keys) are read from the socket's monitor (HandshakeMonitor). Traffic is then
encrypted (CurveZMQ).
"""
from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path

import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by the ZAP specification (RFC 27)
AUTHORIZED_DIR = "authorized_clients"


def _write_private(path: Path, text: str, overwrite: bool) -> None:
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass --force to replace the keys there")
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # the umask can only remove bits; make the mode exact


def _cert_text(public: bytes, secret: bytes | None, name: str) -> str:
    kind = "Secret" if secret else "Public"
    lines = [
        f"#   ****  Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by roboalign keys generate  ****",
        f"#   ZeroMQ CURVE **{kind}** Certificate ({name})",
        "#   Secret certificates: keep owner-only (0600) and never share them." if secret else
        "#   Public certificate: safe to copy.",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def generate_keys(out_dir: str | Path, clients: tuple[str, ...] = ("client",),
                  overwrite: bool = False) -> dict[str, Path]:
    """Write a server key pair and one key pair per client name; return the paths written."""
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq was built without CURVE support; install a pyzmq wheel with libsodium")
    out = Path(out_dir)
    authorized = out / AUTHORIZED_DIR
    authorized.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    os.chmod(authorized, 0o700)
    written: dict[str, Path] = {}
    for name in ("server", *clients):
        if not name or "/" in name or name.startswith(".") or name == AUTHORIZED_DIR:
            raise ValueError(f"bad key name {name!r}")
        public, secret = zmq.curve_keypair()
        _write_private(out / f"{name}.key", _cert_text(public, None, name), overwrite)
        _write_private(out / f"{name}.key_secret", _cert_text(public, secret, name), overwrite)
        written[f"{name}.key"] = out / f"{name}.key"
        written[f"{name}.key_secret"] = out / f"{name}.key_secret"
        if name != "server":
            _write_private(authorized / f"{name}.key", _cert_text(public, None, name), overwrite)
            written[f"{AUTHORIZED_DIR}/{name}.key"] = authorized / f"{name}.key"
    return written


def _read_cert(path: Path) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise FileNotFoundError(f"key file {path} not found (create keys with `roboalign keys generate --out DIR`)")
    public = secret = None
    for line in path.read_bytes().splitlines():
        line = line.strip()
        if line.startswith(b"public-key"):
            public = line.split(b"=", 1)[1].strip(b" \t'\"")
        elif line.startswith(b"secret-key"):
            secret = line.split(b"=", 1)[1].strip(b" \t'\"")
    if public is None or len(public) != 40:
        raise ValueError(f"{path} holds no CURVE public key (40 Z85 characters)")
    if secret is not None and len(secret) != 40:
        raise ValueError(f"{path}: malformed CURVE secret key")
    return public, secret


def load_secret_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a *.key_secret file; refuses files others can read (like ssh)."""
    path = Path(path)
    public, secret = _read_cert(path)
    if secret is None:
        raise ValueError(f"{path} holds no secret key: pass the .key_secret file")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    return public, secret


def load_public_key(path: str | Path) -> bytes:
    return _read_cert(Path(path))[0]


@dataclasses.dataclass(frozen=True)
class ServerAuth:
    public_key: bytes
    secret_key: bytes
    authorized_keys: frozenset[bytes]

    @classmethod
    def from_dir(cls, keys_dir: str | Path, authorized_dir: str | Path | None = None) -> ServerAuth:
        keys_dir = Path(keys_dir)
        public, secret = load_secret_keypair(keys_dir / "server.key_secret")
        auth_dir = Path(authorized_dir) if authorized_dir else keys_dir / AUTHORIZED_DIR
        if not auth_dir.is_dir():
            raise FileNotFoundError(f"authorized client key folder {auth_dir} not found")
        keys = frozenset(load_public_key(p) for p in sorted(auth_dir.glob("*.key")))
        if not keys:
            raise ValueError(f"{auth_dir} lists no client public keys (*.key): no client could connect")
        return cls(public, secret, keys)

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret_key
        socket.curve_publickey = self.public_key
        socket.curve_server = True


@dataclasses.dataclass(frozen=True)
class ClientAuth:
    public_key: bytes
    secret_key: bytes
    server_public_key: bytes

    @classmethod
    def from_files(cls, client_secret_file: str | Path, server_public_file: str | Path) -> ClientAuth:
        public, secret = load_secret_keypair(client_secret_file)
        return cls(public, secret, load_public_key(server_public_file))

    @classmethod
    def from_dir(cls, keys_dir: str | Path, name: str = "client") -> ClientAuth:
        keys_dir = Path(keys_dir)
        return cls.from_files(keys_dir / f"{name}.key_secret", keys_dir / "server.key")

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret_key
        socket.curve_publickey = self.public_key
        socket.curve_serverkey = self.server_public_key


class ZapHandler:
    """Answers ZAP requests for CURVE: 200 for listed client keys, 400 for everyone else.

    Must be bound before the server socket accepts connections: without a ZAP handler,
    libzmq lets every CURVE client in.
    """

    def __init__(self, context: zmq.Context, authorized_keys: frozenset[bytes]) -> None:
        self.authorized = authorized_keys
        self.socket = context.socket(zmq.REP)
        self.socket.linger = 0
        self.socket.bind(ZAP_ENDPOINT)
        self.accepted = 0
        self.rejected = 0

    def handle(self) -> tuple[bool, str, str]:
        """Answer one pending request; returns (accepted, peer address, client key as Z85)."""
        frames = self.socket.recv_multipart()
        ok, address, key = False, "?", ""
        # A REP socket must answer every request, whatever happens, or it stops receiving.
        version, request_id = (frames[0], frames[1]) if len(frames) >= 2 else (b"1.0", b"")
        status = (b"500", b"malformed ZAP request")
        try:
            if len(frames) >= 6:
                address = frames[3].decode(errors="replace")
                if frames[5] == b"CURVE" and len(frames) == 7 and len(frames[6]) == 32:
                    key = z85.encode(frames[6]).decode()
                    ok = key.encode() in self.authorized
                status = (b"200", b"OK") if ok else (b"400", b"client key not authorised")
        finally:
            self.socket.send_multipart([version, request_id, *status, key.encode() if ok else b"", b""])
        if ok:
            self.accepted += 1
        else:
            self.rejected += 1
        return ok, address, key

    def close(self) -> None:
        self.socket.close(linger=0)


# Monitor events of a failed handshake. HANDSHAKE_FAILED_AUTH is not among them: the ZAP
# handler sees those itself, with the refused key.
_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class HandshakeMonitor:
    """Handshakes of a server socket that failed before the ZAP handler was asked.

    A plain client at a CURVE server, a CURVE client at a plain server, a wrong server key, a
    peer that does not speak ZMTP: libzmq drops these without a word to the application; only
    the socket monitor reports them. Attach before bind; poll `socket`; call failures().
    """

    def __init__(self, server_socket: zmq.Socket, curve: bool) -> None:
        self._server = server_socket
        self._curve = curve
        self.socket = server_socket.get_monitor_socket(_HANDSHAKE_FAILED)

    def failures(self) -> list[str]:
        """One line per handshake failed since the last call (never blocks)."""
        reasons = []
        while self.socket.poll(0):
            event = recv_monitor_message(self.socket, zmq.NOBLOCK)
            if not event["event"] & _HANDSHAKE_FAILED:
                continue
            if event["value"] == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
                reasons.append("a client without CURVE keys" if self._curve
                               else "a CURVE client, but this server has auth off")
            else:
                reasons.append(f"handshake error {event['value']:#x} (a wrong server key, or not a ZMQ peer)")
        return reasons

    def close(self) -> None:
        self._server.disable_monitor()
        self.socket.close(linger=0)
