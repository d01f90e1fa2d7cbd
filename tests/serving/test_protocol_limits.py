"""The limits of docs/protocol.md, and the request id on every refusal that can read one.

A client waits for the reply carrying its request id; a refusal sent with id 0 leaves it
waiting for its timeout. So: whatever breaks a limit, if the header holds a readable id, the
ProtocolError (and so the error reply) carries it.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hostile_headers import header_bytes, hostile_headers, nested_list, nested_map, packed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roboalign.serving import cli, codec, errors, header_scan, protocol
from roboalign.serving.errors import ProtocolError

LIMITS = protocol.DEFAULT_LIMITS


def refusal(frames, limits=LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        protocol.decode(frames, limits)
    return info.value


def infer_header(request_id=42, **fields) -> list[tuple[str, bytes]]:
    base = {"version": packed(1), "kind": packed("infer"), "id": packed(request_id)}
    base.update(fields)
    return list(base.items())


PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _doc_limits() -> dict[str, str]:
    """{field: default} from the rows "| `field` | default | ..." of the spec's limits table."""
    return dict(re.findall(r"^\| `(\w+)` \| ([\d,]+(?: MiB)?) \|", PROTOCOL_MD.read_text(), re.MULTILINE))


def _number(text: str) -> int:
    value, _, unit = text.partition(" ")
    return int(value.replace(",", "")) * (2**20 if unit == "MiB" else 1)


def test_every_limit_in_code_is_in_docs_protocol_md_with_the_same_number():
    documented = _doc_limits()
    fields = {f.name for f in dataclasses.fields(protocol.Limits)}
    assert set(documented) == fields
    for name in fields:
        assert _number(documented[name]) == getattr(LIMITS, name), name
    text = PROTOCOL_MD.read_text()
    assert f"| (codec) | 1..{codec._MAX_JOINTS} |" in text
    assert f"| (codec) | {codec._MAX_CAPTURE_STREAMS} |" in text
    assert (f"`--max-batch` 1..{cli.MAX_BATCH}, `--max-wait-ms` 0..{cli.MAX_WAIT_MS:g}, `--max-frame-mb` "
            f"and `--max-request-mb` {cli.MIN_FRAME_MB:g}..{cli.MAX_MB:g}") in " ".join(text.split())


@pytest.mark.parametrize("depth", [20, 500, 1000, 1023, 1024, 1100, 5000])
@pytest.mark.parametrize("field", ["kind", "version"])
def test_kind_or_version_nested_deep_is_refused_with_the_request_id(field, depth):
    """msgpack decodes up to 1023 levels (then the field's type check refuses it); deeper, its
    decoder gives up and the header walk still finds the id. No recursion either way."""
    for nest in (nested_list, nested_map):
        exc = refusal([header_bytes(infer_header(**{field: nest(depth)}))])
        assert exc.request_id == 42
        assert exc.code in (errors.UNKNOWN_KIND, errors.UNSUPPORTED_VERSION, errors.TOO_LARGE)
        assert len(exc.message) < 300


@pytest.mark.parametrize("depth, accepted", [(14, True), (15, False), (900, False), (5000, False)])
def test_body_nesting_is_bounded_at_max_depth_levels_counting_the_header(depth, accepted):
    # header (1) > body (2) > capture_times-like map (3) > `depth` lists
    body = b"\x81\xa1x" + nested_list(depth)
    frames = [header_bytes(infer_header(request_id=9, body=body))]
    if accepted:
        assert protocol.decode(frames).body["x"] is not None
    else:
        exc = refusal(frames)
        assert (exc.code, exc.request_id) == (errors.TOO_LARGE, 9)
        assert "16 levels" in exc.message


@pytest.mark.parametrize("instruction, accepted", [
    ("a" * 4096, True),
    ("é" * 2048, True),                 # 4096 bytes of UTF-8
    ("a" * 4097, False),
    ("é" * 2049, False),                # 2049 characters, 4098 bytes
    ("é" * 4096, False),                # 4096 characters, 8192 bytes: the limit is bytes
    ("🤖" * 1025, False),               # 4 bytes each
])
def test_strings_are_limited_in_utf8_bytes_and_refused_with_the_id(instruction, accepted):
    frames = [header_bytes(infer_header(request_id=77, body=packed({"instruction": instruction})))]
    if accepted:
        assert protocol.decode(frames).body["instruction"] == instruction
    else:
        exc = refusal(frames)
        assert (exc.code, exc.request_id) == (errors.TOO_LARGE, 77)
        assert "4096 bytes" in exc.message


def test_array_names_are_limited_in_utf8_bytes():
    arr = np.zeros(1, np.uint8)
    assert protocol.decode([bytes(f) for f in protocol.encode("infer", 1, None, {"é" * 64: arr})])
    frames = [bytes(f) for f in protocol.encode("infer", 1, None, {"é" * 65: arr})]
    assert refusal(frames).code == errors.BAD_ARRAY


@pytest.mark.parametrize("value, code", [
    (packed(list(range(257))), errors.TOO_LARGE),
    (packed({str(i): i for i in range(257)}), errors.TOO_LARGE),
    (packed({"k" * 5000: 1}), errors.TOO_LARGE),
    (packed({"b": b"\x00" * 4}), errors.BAD_HEADER),
    (packed({"e": msgpack.ExtType(1, b"x")}), errors.BAD_HEADER),
    (packed({1: 2}), errors.BAD_HEADER),
    (b"\x81\xa1s\xa2\xff\xfe", errors.BAD_HEADER),  # not UTF-8
])
def test_decoder_limit_refusals_carry_the_readable_id(value, code):
    for position in ("before", "after"):
        fields = infer_header(request_id=1234)
        fields.insert(0 if position == "before" else len(fields), ("body", value))
        exc = refusal([header_bytes(fields)])
        assert (exc.code, exc.request_id) == (code, 1234), exc.message


@pytest.mark.parametrize("tail, reason", [
    (b"junk", "follow the header map"),
    (None, "truncated"),
])
def test_a_broken_header_after_a_readable_id_still_answers_that_id(tail, reason):
    raw = header_bytes(infer_header(request_id=5, body=packed({"instruction": "touch"})))
    raw = raw + tail if tail else raw[:-3]
    exc = refusal([raw])
    assert (exc.code, exc.request_id) == (errors.BAD_HEADER, 5) and reason in exc.message


def test_an_oversized_header_is_refused_with_the_id_from_its_first_bytes():
    raw = header_bytes(infer_header(request_id=31, body=packed({"instruction": "x" * 70_000})))
    exc = refusal([raw])
    assert (exc.code, exc.request_id) == (errors.TOO_LARGE, 31)


def test_unknown_field_names_are_bounded_in_the_refusal():
    # Found by the hostile-header property test: a 4,000-character unknown field name came back in full.
    long_names = {"a" * 4000: packed(1), "b" * 3000: packed(2)}
    exc = refusal([header_bytes(infer_header(request_id=7, **long_names))])
    assert (exc.code, exc.request_id) == (errors.BAD_HEADER, 7)
    assert len(exc.message) < 200 and "unknown header fields" in exc.message


def test_no_id_means_id_none():
    assert refusal([b"\xc1"]).request_id is None
    assert refusal([packed([1, 2])]).request_id is None
    assert refusal([header_bytes([("id", packed(-1)), ("x", nested_list(5000))])]).request_id is None
    assert refusal([header_bytes([("id", nested_list(3, 7))])]).request_id is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(header=hostile_headers(), payloads=st.lists(st.binary(max_size=16), max_size=2))
def test_hostile_headers_are_refused_with_their_id_whenever_it_is_readable(header, payloads):
    try:
        msg = protocol.decode([header.raw, *payloads])
    except ProtocolError as exc:
        assert exc.code in errors.ERROR_CODES
        assert len(exc.message) <= 1000
        if header.id_readable:
            assert exc.request_id == header.request_id
        return
    assert msg.id == header.request_id


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(min_size=1, max_size=300))
def test_the_header_walk_never_fails_on_arbitrary_bytes(raw):
    found = header_scan.scan(raw, LIMITS)
    assert found.request_id is None or 0 <= found.request_id < 2**64
    assert found.code in (None, *errors.ERROR_CODES)
