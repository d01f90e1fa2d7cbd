"""Reading a header that msgpack refused: the request id in it, and the first rule it breaks.

The fast path (protocol.decode) hands the header frame to msgpack's C decoder with the
protocol's limits. When that decoder refuses a header, its exception says little, and the
request id is lost with it, so the client would wait for its timeout. This module walks the
same bytes without building any object: it finds the top-level `id` if the header is a map
that holds one, and names the first limit or rule broken, so the error reply carries the id,
the right code and a reason a person can act on.

The walk keeps a counter per open container instead of recursing, so a header nested
thousands of levels deep costs no stack; every step consumes at least one byte, so the work
is bounded by the header's length (at most Limits.max_header_bytes). It runs only on
refused headers, never on the hot path.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from roboalign.serving import errors

if TYPE_CHECKING:  # protocol imports this module
    from roboalign.serving.protocol import Limits

MAX_ID = 2**64 - 1


@dataclasses.dataclass(frozen=True)
class HeaderScan:
    """What a walk over a refused header found."""

    request_id: int | None   # the top-level "id" when it is a uint64, else None
    code: str | None         # wire code of the first problem found, None if none was
    reason: str | None       # one line saying what is wrong


class _End(Exception):
    """The bytes stop making sense (truncated, or a byte msgpack never uses): stop walking."""


# Type byte -> payload length of fixed-size scalars (nil, bool, float, and non-id ints).
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8}
_UINT = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
_INT = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
# Type byte -> size of the length field that follows.
_STR = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_BIN = {0xC4: 1, 0xC5: 2, 0xC6: 4}
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0
        self.raw_text = b""  # the payload of the last str read

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise _End("the header ends in the middle of a value (truncated msgpack)")
        chunk = self.buf[self.pos:end]
        self.pos = end
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def item(self) -> tuple[str, int]:
        """Read one value's type and length; scalars and str/bin/ext payloads are consumed.

        Returns ("int", value), ("str", byte length) with the bytes left in self.raw_text,
        ("array", n), ("map", n pairs), ("bin", n), ("ext", n) or ("scalar", 0).
        """
        b = self.take(1)[0]
        if b <= 0x7F:
            return "int", b
        if b >= 0xE0:
            return "int", b - 0x100
        if 0x80 <= b <= 0x8F:
            return "map", b & 0x0F
        if 0x90 <= b <= 0x9F:
            return "array", b & 0x0F
        if 0xA0 <= b <= 0xBF:
            return self._text(b & 0x1F)
        if b in _FIXED:
            self.take(_FIXED[b])
            return "scalar", 0
        if b in _UINT:
            return "int", self.uint(_UINT[b])
        if b in _INT:
            return "int", int.from_bytes(self.take(_INT[b]), "big", signed=True)
        if b in _STR:
            return self._text(self.uint(_STR[b]))
        if b in _BIN:
            n = self.uint(_BIN[b])
            self.take(n)
            return "bin", n
        if b in _EXT:
            n = self.uint(_EXT[b])
            self.take(1 + n)
            return "ext", n
        if b in _FIXEXT:
            self.take(1 + _FIXEXT[b])
            return "ext", _FIXEXT[b]
        if b in _ARRAY:
            return "array", self.uint(_ARRAY[b])
        if b in _MAP:
            return "map", self.uint(_MAP[b])
        raise _End(f"byte 0x{b:02x} at offset {self.pos - 1} is not msgpack")

    def _text(self, n: int) -> tuple[str, int]:
        self.raw_text = self.take(n)
        return "str", n


class _Walk:
    """One walk over a header; remembers the first problem and the top-level id."""

    def __init__(self, raw: bytes, limits: Limits) -> None:
        self.r = _Reader(raw)
        self.limits = limits
        self.code: str | None = None
        self.reason: str | None = None
        self.request_id: int | None = None
        self.id_seen = False

    def note(self, code: str, reason: str) -> None:
        if self.code is None:
            self.code, self.reason = code, reason

    def check_item(self, kind: str, n: int, level: int, is_key: bool) -> str | None:
        """Note what this item breaks; returns its text when it is a valid string."""
        lim = self.limits
        if is_key and kind != "str":
            self.note(errors.BAD_HEADER, "a map key in the header is not a string")
        if kind == "str":
            if n > lim.max_string_len:
                self.note(errors.TOO_LARGE, f"a string of {n} bytes in the header; limit {lim.max_string_len} bytes of UTF-8")
                return None
            try:
                return self.r.raw_text.decode("utf-8")
            except UnicodeDecodeError:
                self.note(errors.BAD_HEADER, "a string in the header is not valid UTF-8")
        elif kind == "bin":
            self.note(errors.BAD_HEADER, "binary (bin) values are not allowed in the header; send text as str")
        elif kind == "ext":
            self.note(errors.BAD_HEADER, "msgpack extension types are not allowed in the header")
        elif kind in ("array", "map"):
            if n > lim.max_container_len:
                what = "list" if kind == "array" else "map"
                self.note(errors.TOO_LARGE, f"a {what} of {n} items in the header; limit {lim.max_container_len}")
            if level > lim.max_depth:
                self.note(errors.TOO_LARGE, f"the header nests containers more than {lim.max_depth} levels deep")
        return None

    def skip(self, level: int) -> None:
        """Walk past one value whose containers (if any) sit at `level`, without recursion."""
        pending = [1]          # values still to read in each open container (this value first)
        in_map = [False]       # maps hold 2n values: key first, so a key is read when the count is even
        while pending:
            is_key = in_map[-1] and pending[-1] % 2 == 0
            pending[-1] -= 1
            kind, n = self.r.item()
            self.check_item(kind, n, level + len(pending) - 1, is_key)
            if kind in ("array", "map") and n:
                pending.append(2 * n if kind == "map" else n)
                in_map.append(kind == "map")
            while pending and pending[-1] == 0:
                pending.pop()
                in_map.pop()
            if self.code is not None and self.id_seen:
                return  # nothing more to learn

    def run(self) -> None:
        kind, n = self.r.item()
        if kind != "map":
            self.note(errors.BAD_HEADER, "the header must be a msgpack map")
            return
        self.check_item(kind, n, 1, False)
        for _ in range(n):  # n may be huge: every pass consumes bytes or raises _End
            key_kind, key_len = self.r.item()
            key = self.check_item(key_kind, key_len, 2, True)
            if key == "id":
                self.id_seen = True
                start = self.r.pos
                value_kind, value = self.r.item()
                if value_kind == "int" and 0 <= value <= MAX_ID:
                    self.request_id = value
                else:  # not an id: walk past it like any other value
                    self.r.pos = start
                    self.skip(2)
            else:
                self.skip(2)
            if self.code is not None and self.id_seen:
                return
        if self.r.pos != len(self.r.buf):
            self.note(errors.BAD_HEADER, f"{len(self.r.buf) - self.r.pos} bytes follow the header map")


def scan(raw: bytes | memoryview, limits: Limits) -> HeaderScan:
    """Walk a header frame msgpack refused; never raises, whatever the bytes."""
    walk = _Walk(bytes(raw), limits)
    try:
        walk.run()
    except _End as end:
        walk.note(errors.BAD_HEADER, str(end))
    return HeaderScan(walk.request_id, walk.code, walk.reason)
