"""Hand-built msgpack headers that no well-behaved encoder writes (imported by name, like
serving_helpers): nesting past msgpack's own encoder limit, raw garbage inside a map, and a
hypothesis strategy that mixes them with a readable (or unreadable) request id."""
from __future__ import annotations

import dataclasses

import msgpack
from hypothesis import strategies as st


def nested_list(depth: int, leaf: object = 1) -> bytes:
    """`leaf` inside `depth` one-item lists (msgpack.packb stops at 512 levels; bytes do not)."""
    return b"\x91" * depth + msgpack.packb(leaf)


def nested_map(depth: int, leaf: object = 1) -> bytes:
    return b"\x81\xa1k" * depth + msgpack.packb(leaf)


def header_bytes(fields: list[tuple[str, bytes]]) -> bytes:
    """A msgpack map whose values are given as raw bytes, in this order."""
    n = len(fields)
    out = bytearray([0x80 | n] if n < 16 else [0xDE, n >> 8, n & 0xFF])
    for key, value in fields:
        out += msgpack.packb(key) + value
    return bytes(out)


def packed(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


@dataclasses.dataclass
class HostileHeader:
    raw: bytes
    request_id: int | None   # the id the header holds, if it holds a valid one
    id_readable: bool        # whether everything before the id is well-formed msgpack


_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)

# Values that keep the msgpack structure intact (so an id after them stays readable) ...
_well_formed = st.one_of(
    _json.map(packed),
    st.integers(1, 3000).map(nested_list),
    st.integers(1, 1500).map(nested_map),
    st.integers(4000, 4200).map(lambda n: packed("a" * n)),              # over 4096 bytes from 4097
    st.integers(1020, 4200).map(lambda n: packed("é" * n)),              # 2 bytes per character
    st.integers(200, 300).map(lambda n: packed(list(range(n)))),         # over 256 items from 257
    st.integers(200, 300).map(lambda n: packed({str(i): i for i in range(n)})),
    st.binary(max_size=20).map(packed),                                   # bin: not allowed
    st.binary(max_size=20).map(lambda b: packed(msgpack.ExtType(7, b))),  # ext: not allowed
    st.sampled_from([packed({1: 2}), packed({"a": {3: "x"}})]),           # non-string keys
    st.sampled_from(["infer", "health", "stats"]).map(packed),
    st.just(packed(1)),
)
# ... and values that break it (an id after them may or may not be found).
_broken = st.one_of(
    st.binary(min_size=1, max_size=30),
    _well_formed.flatmap(lambda v: st.integers(1, max(1, len(v) - 1)).map(lambda k: v[:-k] if len(v) > 1 else b"\xc1")),
    st.just(b"\xc1"),
)


@st.composite
def hostile_headers(draw) -> HostileHeader:
    names = draw(st.lists(st.sampled_from(["version", "kind", "arrays", "body", "extra", "k" * 5000]),
                          unique=True, max_size=5))
    fields = []  # (key, raw value, whether the value breaks the msgpack structure)
    for name in names:
        broken = draw(st.integers(0, 3)) == 0
        fields.append((name, draw(_broken if broken else _well_formed), broken))
    id_kind = draw(st.sampled_from(["valid", "valid", "valid", "negative", "text", "missing", "nested"]))
    request_id = draw(st.integers(0, 2**64 - 1)) if id_kind == "valid" else None
    id_value = {"valid": lambda: packed(request_id), "negative": lambda: packed(-5), "text": lambda: packed("7"),
                "nested": lambda: nested_list(3, 7), "missing": lambda: None}[id_kind]()
    position = draw(st.integers(0, len(fields)))
    ordered = [(key, value) for key, value, _ in fields]
    if id_value is not None:
        ordered.insert(position, ("id", id_value))
    raw = header_bytes(ordered)
    if draw(st.integers(0, 9)) == 0:
        raw += draw(st.binary(min_size=1, max_size=8))  # trailing bytes after the map
    return HostileHeader(raw, request_id, id_readable=not any(broken for _, _, broken in fields[:position]))
