"""CRLF normalisation, dot-stuffing and sizes of messages on the POP3 wire (RFC 1939 §3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.multiline import crlf_normalize, encode_message
from agents.pop3.wire import WireEncoder, crlf_size, top_lines
from store.linebreaks import dot_stuff


def unstuff(wire: bytes) -> bytes:
    """What a client makes of a multi-line response body: terminator removed, leading dots undoubled."""
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[: -len(b".\r\n")]
    lines = body.split(b"\r\n")[:-1] if body else []
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@pytest.mark.parametrize(
    ("stored", "normalized"),
    [
        (b"", b""),
        (b"a", b"a\r\n"),
        (b"a\n", b"a\r\n"),
        (b"a\r\nb\nc", b"a\r\nb\r\nc\r\n"),
        (b"a\r\r\n", b"a\r\r\n"),
        (b"bare\rcr\r\n", b"bare\rcr\r\n"),
        (b"\n\n", b"\r\n\r\n"),
    ],
)
def test_crlf_normalize_and_size(stored, normalized):
    """Every line ends in CRLF, the last one too; the computed size is that length."""
    assert crlf_normalize(stored) == normalized
    assert crlf_size(stored) == len(normalized)


@pytest.mark.parametrize(
    ("lines", "stuffed"),
    [
        (b".\r\n", b"..\r\n"),
        (b"a\r\n.\r\n", b"a\r\n..\r\n"),
        (b"..x\r\n", b"...x\r\n"),
        (b"a.b\r\n", b"a.b\r\n"),
        (b"a\r\n.\r\n.x\r\n", b"a\r\n..\r\n..x\r\n"),
    ],
)
def test_dot_stuff(lines, stuffed):
    """A line that starts with "." gets one more (RFC 1939 §3)."""
    assert dot_stuff(lines) == stuffed


def test_encode_message_terminates():
    """The multi-line form ends with CRLF "." CRLF, also for a message without a final newline."""
    assert encode_message(b"") == b".\r\n"
    assert encode_message(b"x") == b"x\r\n.\r\n"
    assert encode_message(b".\n") == b"..\r\n.\r\n"


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=50))
def test_chunked_encoder_equals_whole(data, chunk_sizes):
    """Encoding in chunks of any size gives the same bytes as encoding at once; unstuffed size is exact."""
    encoder = WireEncoder()
    pieces = []
    position = 0
    index = 0
    while position < len(data):
        size = chunk_sizes[index % len(chunk_sizes)]
        pieces.append(encoder.feed(data[position : position + size]))
        position += size
        index += 1
    pieces.append(encoder.finish())
    wire = b"".join(pieces)
    assert wire == encode_message(data)
    assert unstuff(wire) == crlf_normalize(data)
    assert len(unstuff(wire)) == crlf_size(data)


@pytest.mark.parametrize(
    ("message", "count", "expected"),
    [
        (b"A: 1\r\n\r\nl1\r\nl2\r\n", 0, b"A: 1\r\n\r\n"),
        (b"A: 1\r\n\r\nl1\r\nl2\r\n", 1, b"A: 1\r\n\r\nl1\r\n"),
        (b"A: 1\r\n\r\nl1\r\nl2\r\n", 9, b"A: 1\r\n\r\nl1\r\nl2\r\n"),
        (b"A: 1\nB: 2\n\nbody\n", 0, b"A: 1\r\nB: 2\r\n\r\n"),
        (b"A: 1\r\nno body", 3, b"A: 1\r\nno body\r\n"),
        (b"\r\nbody only\r\n", 0, b"\r\n"),
    ],
)
def test_top_lines(message, count, expected):
    """TOP keeps the header, the blank line and n body lines (RFC 1939 §7)."""
    assert top_lines(message, count) == expected


@given(st.binary(max_size=2000))
def test_wire_facts_match_the_encoder(data):
    """The facts recorded per blob at write time agree with what RETR sends: the size is the
    CRLF-normalised length, crlf means the bytes already are that form, dots that stuffing changes them."""
    from store.blobs import wire_facts

    facts = wire_facts(data)
    normalized = crlf_normalize(data)
    assert facts.size == len(normalized) == crlf_size(data)
    assert facts.crlf == (normalized == data)
    assert facts.dots == (dot_stuff(normalized) != normalized)
    assert encode_message(data, crlf_clean=facts.crlf, dot_lines=facts.dots) == encode_message(data)


@given(st.binary(max_size=2000))
def test_gathered_parts_equal_the_encoded_message(data):
    """The parts RETR writes in one gathered write join to exactly the header and encode_message(data)."""
    from agents.pop3.wire import wire_parts
    from store.blobs import wire_facts

    facts = wire_facts(data)
    for crlf_clean, dot_lines in {(facts.crlf, facts.dots), (False, True)}:
        parts = wire_parts(b"+OK\r\n", data, crlf_clean=crlf_clean, dot_lines=dot_lines)
        assert b"".join(parts) == b"+OK\r\n" + encode_message(data)
