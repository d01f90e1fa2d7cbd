"""Wire protocol v1: one msgpack header frame + raw array frames, validated before use.

A message is a ZMQ multipart message (the ROUTER socket adds the peer identity in front):

    frame 0     msgpack map  {"version": 1, "kind": str, "id": uint64,
                              "arrays": [[name, dtype, shape, nbytes], ...], "body": map}
    frame 1..N  the raw bytes of each array, in the order of "arrays", C order, little endian

Why this shape: the header is tiny, so msgpack costs microseconds; the big payload (camera
images) travels as its own frames, sent from the caller's buffers and received into ZMQ's
buffers that numpy views directly: no pickle (never), no base64, no per-element encoding, no
extra copies. Every field is checked against `Limits` before any buffer is viewed as an array,
so a hostile or buggy peer gets an error reply, never a crash or an unbounded allocation.
The full specification, with error codes, lives in docs/protocol.md.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack
import numpy as np
import zmq

from roboalign.serving import errors, header_scan
from roboalign.serving.errors import ProtocolError

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})

# Requests a client may send; replies carry the same kind, or "error".
REQUEST_KINDS = frozenset({"infer", "metadata", "health", "reset", "stats"})
ERROR_KIND = "error"
REPLY_KINDS = REQUEST_KINDS | {ERROR_KIND}

# Dtype whitelist: plain numeric types only (no object, void, string or complex dtypes,
# which could smuggle Python objects or have no meaning for a policy). Always little endian.
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "int64",
                 "float16", "float32", "float64")
}
_NAME_BY_STR = {dt.str: name for name, dt in DTYPES.items()}

_HEADER_KEYS = frozenset({"version", "kind", "id", "arrays", "body"})
_MAX_ID = header_scan.MAX_ID


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds enforced on every received message; docs/protocol.md lists the same numbers.

    Sizes are bytes: strings are counted in UTF-8 bytes, as msgpack stores them (a character
    count would differ between languages). max_frame_bytes is also set as ZMQ_MAXMSGSIZE, so
    ZMQ drops the connection of a peer that sends a larger frame before it is ever buffered
    whole. The defaults fit four 1080p RGB cameras; raise them for bigger inputs.
    """

    max_header_bytes: int = 64 * 1024
    max_frame_bytes: int = 32 * 2**20
    max_total_bytes: int = 128 * 2**20
    max_arrays: int = 64            # array frames per message
    max_ndim: int = 8
    max_name_len: int = 128         # bytes of an array name
    max_string_len: int = 4096      # bytes of any string in the header (instruction, keys, ...)
    max_container_len: int = 256    # items of any list or map in the header
    max_depth: int = 16             # container nesting; the header map is level 1

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if int(getattr(self, f.name)) <= 0:
                raise ValueError(f"Limits.{f.name} must be positive")
        if self.max_frame_bytes < self.max_header_bytes:
            raise ValueError("Limits.max_frame_bytes must be at least max_header_bytes")
        if self.max_container_len < max(self.max_arrays, self.max_ndim):
            raise ValueError("Limits.max_container_len must be at least max_arrays and max_ndim")
        if self.max_depth < 4:  # header > arrays > entry > shape
            raise ValueError("Limits.max_depth must be at least 4")

    @classmethod
    def for_megabytes(cls, max_frame_mb: float, max_total_mb: float | None = None) -> Limits:
        frame = int(max_frame_mb * 2**20)
        total = int((max_total_mb if max_total_mb is not None else 4 * max_frame_mb) * 2**20)
        return cls(max_frame_bytes=frame, max_total_bytes=max(total, frame))


DEFAULT_LIMITS = Limits()


@dataclasses.dataclass
class Message:
    """A decoded, validated message. Arrays are read-only views of the received frames."""

    kind: str
    id: int
    body: dict[str, Any]
    arrays: dict[str, np.ndarray]


def encode(kind: str, request_id: int, body: Mapping[str, Any] | None = None,
           arrays: Mapping[str, np.ndarray] | None = None) -> list:
    """Frames for send_multipart(..., copy=False): the header, then one buffer per array.

    Arrays already C-contiguous, little-endian and of a whitelisted dtype are sent from their
    own memory (no copy); others are converted once. The caller must not mutate them until
    the send completes (pyzmq keeps a reference; our client blocks until the reply anyway).
    """
    table = []
    frames: list = [b""]
    if arrays:
        for name, value in arrays.items():
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            wire_name = _NAME_BY_STR.get(arr.dtype.str)  # dtype.str: a cheap exact lookup
            if wire_name is None:
                arr = _to_wire_dtype(name, arr)
                wire_name = _NAME_BY_STR[arr.dtype.str]
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
            table.append([name, wire_name, list(arr.shape), arr.nbytes])
            frames.append(_byte_view(arr))
    header = {"version": PROTOCOL_VERSION, "kind": kind, "id": int(request_id),
              "arrays": table, "body": dict(body) if body else {}}
    frames[0] = msgpack.packb(header, use_bin_type=True)
    return frames


def _to_wire_dtype(name: str, arr: np.ndarray) -> np.ndarray:
    wire = DTYPES.get(arr.dtype.name)
    if wire is None:
        raise ValueError(
            f"array {name!r} has dtype {arr.dtype}, which the protocol does not carry; "
            f"use one of {sorted(DTYPES)}"
        )
    return arr.astype(wire)  # big-endian input: one byte-swapping copy


def _byte_view(arr: np.ndarray) -> memoryview:
    """A flat byte view of a C-contiguous array's own memory (0-d and empty arrays included)."""
    if arr.size == 0:
        return memoryview(b"")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return memoryview(arr).cast("B")


# Plain ints: pyzmq's flag enums cost a Python-level enum operation per frame.
NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


def send_frames(sock: zmq.Socket, frames: Sequence[Any], flags: int = 0) -> None:
    """send_multipart(frames, copy=False) without its per-frame overhead (hot path)."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        sock.send(frame, flags | _SNDMORE if i < last else flags, copy=False)


def recv_frames(sock: zmq.Socket, flags: int = 0, copy: bool = False) -> list:
    """recv_multipart without its per-frame overhead; Frames (zero-copy views) unless copy."""
    parts = [sock.recv(flags, copy=copy)]
    while sock.get(_RCVMORE):
        parts.append(sock.recv(flags, copy=copy))
    return parts


def _fail(code: str, message: str, request_id: int | None) -> ProtocolError:
    return ProtocolError(code, message, request_id=request_id)


def _is_int(x: Any) -> bool:
    return type(x) is int


def _brief(value: Any) -> str:
    """An untrusted header value for an error message: bounded, and without recursion (repr of a
    list nested 1,000 levels deep raises RecursionError)."""
    if type(value) is dict or type(value) is list:
        return f"a {'map' if type(value) is dict else 'list'} of length {len(value)}"
    if type(value) is str:
        return repr(value[:40])
    return repr(value)[:40]


def utf8_len(text: str) -> int:
    """Bytes of `text` in UTF-8; free for ASCII (str.isascii is O(1) in CPython)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _nests_deeper(value: dict | list, levels: int) -> bool:
    """Whether `value` holds containers more than `levels` levels deep (itself = level 1)."""
    level = [value]
    while level:
        if levels <= 0:
            return True
        levels -= 1
        inner = []
        for item in level:
            for child in (item.values() if type(item) is dict else item):
                if type(child) is dict or type(child) is list:
                    inner.append(child)
        level = inner
    return False


def _unpack_header(raw: memoryview | bytes, limits: Limits) -> Any:
    # msgpack's own limits (checked in C) bound every string and container, so a short header
    # cannot declare huge ones; bin and ext types are refused outright (the validator knows
    # only str, numbers, lists and maps). Nesting is bounded below (msgpack's C decoder stops
    # at 1024 levels by itself).
    return msgpack.unpackb(
        raw, raw=False, strict_map_key=True, use_list=True,
        max_str_len=limits.max_string_len, max_bin_len=0, max_ext_len=0,
        max_array_len=limits.max_container_len, max_map_len=limits.max_container_len,
    )


def _refused_header(head: memoryview, limits: Limits, exc: Exception) -> ProtocolError:
    """The error for a header msgpack refused: its id (when readable) and the rule it broke."""
    found = header_scan.scan(head, limits)
    if found.code is None:  # the walk found nothing msgpack would mind: say what msgpack said
        return _fail(errors.BAD_HEADER, f"header is not a valid msgpack map ({type(exc).__name__})",
                     found.request_id)
    return _fail(found.code, found.reason or "", found.request_id)


def decode(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS,
           kinds: frozenset[str] = REQUEST_KINDS) -> Message:
    """Validate a received multipart message (without the ROUTER identity frame).

    `frames` are zmq.Frame objects or bytes-like. Raises ProtocolError with a wire error code,
    and with the request id whenever the header holds a readable one; nothing is viewed as an
    array until every declared size has been checked.
    """
    if len(frames) < 1:
        raise _fail(errors.BAD_MESSAGE, "empty message", None)
    f0 = frames[0]
    head = f0.buffer if type(f0) is zmq.Frame else memoryview(f0)
    if head.nbytes == 0:
        raise _fail(errors.BAD_HEADER, "empty header frame", None)
    if head.nbytes > limits.max_header_bytes:
        # The id is read from the first max_header_bytes only: bounded work for any frame.
        found = header_scan.scan(head[:limits.max_header_bytes], limits)
        raise _fail(errors.TOO_LARGE, f"header of {head.nbytes} bytes, limit {limits.max_header_bytes}",
                    found.request_id)
    try:
        header = _unpack_header(head, limits)
    except Exception as exc:  # msgpack raises several types (ValueError, ExtraData, StackError, ...)
        raise _refused_header(head, limits, exc) from None
    if not isinstance(header, dict):
        raise _fail(errors.BAD_HEADER, f"header must be a map, got {type(header).__name__}", None)

    request_id = header.get("id")
    if not (_is_int(request_id) and 0 <= request_id <= _MAX_ID):
        raise _fail(errors.BAD_HEADER, "header 'id' must be an unsigned 64-bit integer", None)
    if len(frames) - 1 > limits.max_arrays:
        raise _fail(errors.TOO_LARGE, f"{len(frames) - 1} array frames, limit {limits.max_arrays}", request_id)
    views = [head, *(f.buffer if type(f) is zmq.Frame else memoryview(f) for f in frames[1:])]
    unknown = set(header) - _HEADER_KEYS
    if unknown:
        # Field names are untrusted: each is bounded like any other header value (a hypothesis run
        # found a 4,000-character name passing through in full).
        names = ", ".join(_brief(name) for name in sorted(map(str, unknown))[:5])
        raise _fail(errors.BAD_HEADER, f"unknown header fields [{names}]", request_id)
    version = header.get("version")
    if not _is_int(version) or version not in SUPPORTED_VERSIONS:
        raise _fail(errors.UNSUPPORTED_VERSION,
                    f"protocol version {_brief(version)} not supported; this side speaks {sorted(SUPPORTED_VERSIONS)}",
                    request_id)
    kind = header.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise _fail(errors.UNKNOWN_KIND, f"unknown kind {_brief(kind)}; expected one of {sorted(kinds)}", request_id)
    body = header.get("body", {})
    if type(body) is not dict:
        raise _fail(errors.BAD_HEADER, "header 'body' must be a map", request_id)
    # Every other field has a fixed type that refuses containers; only the body can nest.
    if body and _nests_deeper(body, limits.max_depth - 1):
        raise _fail(errors.TOO_LARGE, f"header nests containers more than {limits.max_depth} levels deep", request_id)
    table = header.get("arrays", [])
    if not isinstance(table, list):
        raise _fail(errors.BAD_HEADER, "header 'arrays' must be a list", request_id)
    if len(table) != len(views) - 1:
        raise _fail(errors.BAD_MESSAGE,
                    f"header declares {len(table)} arrays but {len(views) - 1} array frames arrived", request_id)

    # Pass 1: check every declaration and byte count. Pass 2 (below) makes the views.
    # (`type(x) is int` on purpose: it is fast and refuses bools.)
    specs = []
    names: set[str] = set()
    total = 0
    max_ndim, max_frame = limits.max_ndim, limits.max_frame_bytes
    for i, entry in enumerate(table):
        if type(entry) is not list or len(entry) != 4:
            raise _fail(errors.BAD_ARRAY, f"array entry {i} must be [name, dtype, shape, nbytes]", request_id)
        name, dtype_name, shape, nbytes = entry
        if type(name) is not str or not 0 < utf8_len(name) <= limits.max_name_len:
            raise _fail(errors.BAD_ARRAY, f"array entry {i}: name must be a string of 1..{limits.max_name_len} bytes", request_id)
        if name in names:
            raise _fail(errors.BAD_ARRAY, f"array {name!r} declared twice", request_id)
        names.add(name)
        dtype = DTYPES.get(dtype_name) if type(dtype_name) is str else None
        if dtype is None:
            raise _fail(errors.BAD_ARRAY, f"array {name!r}: dtype {_brief(dtype_name)} not allowed; use one of {sorted(DTYPES)}", request_id)
        if type(shape) is not list or len(shape) > max_ndim:
            raise _fail(errors.BAD_ARRAY, f"array {name!r}: shape must be a list of at most {max_ndim} non-negative integers", request_id)
        expected = dtype.itemsize
        for d in shape:  # Python ints: no overflow however huge the declared shape
            if type(d) is not int or d < 0:
                raise _fail(errors.BAD_ARRAY, f"array {name!r}: shape must be a list of at most {max_ndim} non-negative integers", request_id)
            expected *= d
        if expected > max_frame:
            raise _fail(errors.TOO_LARGE, f"array {name!r} declares {expected} bytes, limit {max_frame}", request_id)
        if type(nbytes) is not int or nbytes != expected:
            raise _fail(errors.BAD_ARRAY, f"array {name!r}: nbytes {_brief(nbytes)} does not match {dtype_name}{shape} = {expected}", request_id)
        actual = views[i + 1].nbytes
        if actual != expected:
            raise _fail(errors.BAD_ARRAY, f"array {name!r}: frame holds {actual} bytes, header declares {expected}", request_id)
        total += expected
        if total > limits.max_total_bytes:
            raise _fail(errors.TOO_LARGE, f"arrays total more than {limits.max_total_bytes} bytes", request_id)
        specs.append((name, dtype, shape))

    # Read-only views of ZMQ's receive buffers: zero copies, and never mutated in place.
    arrays = {name: np.ndarray(shape, dtype, view.toreadonly())
              for (name, dtype, shape), view in zip(specs, views[1:])}
    return Message(kind=kind, id=request_id, body=body, arrays=arrays)


def encode_error(request_id: int | None, code: str, message: str, request_kind: str = "") -> list:
    """An error reply: a code from errors.ERROR_CODES and one line of text, never a traceback."""
    body = {"code": code, "message": message[:1000], "request_kind": request_kind}
    return encode(ERROR_KIND, request_id if request_id is not None else 0, body=body)
