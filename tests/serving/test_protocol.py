"""Wire protocol: round trips, and every malformed field turned into a ProtocolError code."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roboalign.serving import errors, protocol
from roboalign.serving.errors import ProtocolError


def frames_as_bytes(frames: list) -> list[bytes]:
    return [bytes(f) for f in frames]


def header_frame(**fields) -> bytes:
    base = {"version": 1, "kind": "infer", "id": 7, "arrays": [], "body": {}}
    base.update(fields)
    return msgpack.packb({k: v for k, v in base.items() if v is not ...})


def decode_error(frames, limits=protocol.DEFAULT_LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        protocol.decode(frames, limits)
    return info.value


@pytest.mark.parametrize("dtype", sorted(protocol.DTYPES))
def test_every_whitelisted_dtype_round_trips_bit_exact(dtype):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=(3, 4, 2)) * 50).astype(dtype)
    msg = protocol.decode(frames_as_bytes(protocol.encode("infer", 3, {"x": 1}, {"a": arr})))
    assert msg.kind == "infer" and msg.id == 3 and msg.body == {"x": 1}
    assert msg.arrays["a"].dtype == arr.dtype and np.array_equal(msg.arrays["a"], arr)


def test_zero_d_empty_big_endian_and_strided_arrays_round_trip():
    arrays = {
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3), np.float32),
        "big_endian": np.arange(5, dtype=">i4"),
        "strided": np.arange(20.0).reshape(4, 5)[:, ::2],
    }
    msg = protocol.decode(frames_as_bytes(protocol.encode("infer", 1, None, arrays)))
    for name, arr in arrays.items():
        assert msg.arrays[name].shape == arr.shape
        assert np.array_equal(msg.arrays[name], arr)


def test_decoded_arrays_are_read_only_views():
    msg = protocol.decode(frames_as_bytes(protocol.encode("infer", 1, None, {"a": np.zeros(4)})))
    with pytest.raises(ValueError):
        msg.arrays["a"][0] = 1.0


def test_encode_refuses_object_and_complex_arrays():
    with pytest.raises(ValueError, match="does not carry"):
        protocol.encode("infer", 1, None, {"bad": np.array([object()])})
    with pytest.raises(ValueError, match="does not carry"):
        protocol.encode("infer", 1, None, {"bad": np.zeros(2, np.complex64)})


@pytest.mark.parametrize("frames, code", [
    ([], errors.BAD_MESSAGE),
    ([b""], errors.BAD_HEADER),
    ([b"\xc1\xc1garbage"], errors.BAD_HEADER),
    ([msgpack.packb([1, 2, 3])], errors.BAD_HEADER),
    ([header_frame(id=-1)], errors.BAD_HEADER),
    ([header_frame(id=True)], errors.BAD_HEADER),
    ([header_frame(id="7")], errors.BAD_HEADER),
    ([header_frame(surprise=1)], errors.BAD_HEADER),
    ([header_frame(version=2)], errors.UNSUPPORTED_VERSION),
    ([header_frame(version="1")], errors.UNSUPPORTED_VERSION),
    ([header_frame(kind="shutdown")], errors.UNKNOWN_KIND),
    ([header_frame(kind=5)], errors.UNKNOWN_KIND),
    ([header_frame(body=[1])], errors.BAD_HEADER),
    ([header_frame(arrays={"a": 1})], errors.BAD_HEADER),
    ([header_frame(), b"extra frame"], errors.BAD_MESSAGE),
    ([header_frame(arrays=[["a", "float32", [2], 8]])], errors.BAD_MESSAGE),
])
def test_malformed_headers_get_their_error_code(frames, code):
    assert decode_error(frames).code == code


def test_error_keeps_the_request_id_once_it_could_be_read():
    assert decode_error([header_frame(version=9, id=1234)]).request_id == 1234
    assert decode_error([b"\x00garbage"]).request_id is None


@pytest.mark.parametrize("entry, payload, code", [
    (["a", "float32", [2], 8], b"\x00" * 7, errors.BAD_ARRAY),          # frame shorter than declared
    (["a", "float32", [2], 9], b"\x00" * 8, errors.BAD_ARRAY),          # nbytes != shape * itemsize
    (["a", "object", [1], 8], b"\x00" * 8, errors.BAD_ARRAY),           # dtype not whitelisted
    (["a", "<f4", [2], 8], b"\x00" * 8, errors.BAD_ARRAY),              # only the documented names
    (["a", "float32", [-2], 8], b"\x00" * 8, errors.BAD_ARRAY),         # negative dimension
    (["a", "float32", [2.0], 8], b"\x00" * 8, errors.BAD_ARRAY),        # float dimension
    (["a", "uint8", [1] * 9, 1], b"\x00", errors.BAD_ARRAY),            # too many dimensions
    (["", "uint8", [1], 1], b"\x00", errors.BAD_ARRAY),                 # empty name
    (["a", "uint8", [1]], b"\x00", errors.BAD_ARRAY),                   # entry of 3 fields
    (["a", "float64", [2**40, 2**40, 3], 8], b"\x00" * 8, errors.TOO_LARGE),  # huge declared shape
])
def test_array_declarations_are_checked_before_any_buffer_is_used(entry, payload, code):
    assert decode_error([header_frame(arrays=[entry]), payload]).code == code


def test_duplicate_array_names_are_refused():
    entry = ["a", "uint8", [1], 1]
    assert decode_error([header_frame(arrays=[entry, entry]), b"\x00", b"\x00"]).code == errors.BAD_ARRAY


def test_limits_on_header_size_frame_count_and_total_bytes():
    limits = protocol.Limits(max_header_bytes=1024, max_frame_bytes=4096, max_total_bytes=6000, max_arrays=3)
    big_header = header_frame(body={"instruction": "x" * 2000})
    assert decode_error([big_header], limits).code == errors.TOO_LARGE
    assert decode_error([header_frame()] + [b""] * 4, limits).code == errors.TOO_LARGE
    two = [["a", "uint8", [4000], 4000], ["b", "uint8", [4000], 4000]]
    assert decode_error([header_frame(arrays=two), b"\x00" * 4000, b"\x00" * 4000], limits).code == errors.TOO_LARGE


def test_ext_types_and_binary_blobs_in_the_header_are_refused():
    ext = msgpack.packb({"version": 1, "kind": "infer", "id": 1, "body": msgpack.ExtType(5, b"x")})
    blob = msgpack.packb({"version": 1, "kind": "infer", "id": 1, "body": {"b": b"\x00" * 10}})
    assert decode_error([ext]).code == errors.BAD_HEADER
    assert decode_error([blob]).code == errors.BAD_HEADER


# ---- property tests: nothing malformed ever escapes as anything but a ProtocolError ---------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.floats()
    | st.text(max_size=12) | st.binary(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
array_entry = st.one_of(
    json_like,
    st.tuples(st.text(max_size=6), st.sampled_from(["uint8", "float32", "float64", "bool", "object", "<f4", ""]),
              st.lists(st.integers(min_value=-3, max_value=2**62), max_size=10),
              st.integers(min_value=-1, max_value=2**64 - 1)).map(list),
)
header_fields = st.fixed_dictionaries({}, optional={
    "version": st.one_of(st.just(1), json_like),
    "kind": st.one_of(st.sampled_from(sorted(protocol.REQUEST_KINDS)), json_like),
    "id": st.one_of(st.integers(min_value=-5, max_value=2**64 - 1), json_like),
    "arrays": st.one_of(st.lists(array_entry, max_size=4), json_like),
    "body": json_like,
    "extra": json_like,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=header_fields, payloads=st.lists(st.binary(max_size=64), max_size=4))
def test_random_headers_decode_or_raise_protocol_error(header, payloads):
    raw = msgpack.packb(header, use_bin_type=True)
    try:
        msg = protocol.decode([raw, *payloads])
    except ProtocolError as exc:
        assert exc.code in errors.ERROR_CODES
        return
    # Accepted: then it really was well formed.
    assert msg.kind in protocol.REQUEST_KINDS and len(msg.arrays) == len(payloads)
    # `arrays` is optional (docs/protocol.md): a header without it declares no arrays.
    for (name, _, shape, nbytes), payload in zip(header.get("arrays", []), payloads):
        assert msg.arrays[name].shape == tuple(shape) and nbytes == len(payload)


@settings(max_examples=100, deadline=None)
@given(garbage=st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_random_bytes_decode_or_raise_protocol_error(garbage):
    try:
        protocol.decode(garbage)
    except ProtocolError as exc:
        assert exc.code in errors.ERROR_CODES


_VALID = protocol.encode("infer", 5, {"instruction": "x"}, {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                                                           "b": np.zeros(4, np.uint8)})
_VALID_HEADER = msgpack.unpackb(bytes(_VALID[0]))


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from([("version",), ("kind",), ("id",), ("arrays", 0, 0), ("arrays", 0, 1),
                             ("arrays", 0, 2), ("arrays", 0, 2, 1), ("arrays", 1, 3), ("arrays", 1), ("body",)]),
       value=json_like, frame_cut=st.integers(min_value=0, max_value=30))
def test_one_corrupted_field_of_a_valid_message_is_caught(path, value, frame_cut):
    """Near-valid messages: one header field replaced, and optionally a frame truncated."""
    header = msgpack.unpackb(msgpack.packb(_VALID_HEADER))
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    frames = [msgpack.packb(header, use_bin_type=True), bytes(_VALID[1]), bytes(_VALID[2])]
    frames[1] = frames[1][:len(frames[1]) - frame_cut] if frame_cut < 24 else frames[1]
    try:
        msg = protocol.decode(frames)
    except ProtocolError as exc:
        assert exc.code in errors.ERROR_CODES
        return
    for name, entry in zip(msg.arrays, header["arrays"]):  # accepted only if still consistent
        assert msg.arrays[name].nbytes == entry[3]
