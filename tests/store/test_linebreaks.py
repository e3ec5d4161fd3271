"""store.linebreaks agrees with the plain bytes and str methods it stands in for, on any input."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from store.blobs import wire_facts, wire_facts_checked_body
from store.linebreaks import (
    crlf_count,
    crlf_only,
    crlf_to_lf,
    dot_line,
    dot_stuff,
    dot_unstuff,
    dot_unstuff_count,
    lf_to_crlf,
)

# Bytes made mostly of the characters these scans care about, so the cases that matter are common.
mail_bytes = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"a", b"..", b"\r\n.", b"\xe3\x81\x82"])).map(
    b"".join
)


@given(mail_bytes)
def test_counts_and_checks_agree_with_bytes_methods(data: bytes) -> None:
    assert crlf_count(data) == data.count(b"\r\n")
    bare = data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n")
    assert crlf_only(data) is not bare
    assert dot_line(data) == (data.startswith(b".") or b"\n." in data)


@given(mail_bytes)
def test_rewrites_agree_with_bytes_methods(data: bytes) -> None:
    assert lf_to_crlf(data) == data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    stuffed = data.replace(b"\n.", b"\n..")
    assert dot_stuff(data) == (b"." + stuffed if stuffed.startswith(b".") else stuffed)
    assert dot_unstuff(data) == data.replace(b"\r\n.", b"\r\n")
    assert dot_unstuff_count(data) == (dot_unstuff(data), data.count(b"\r\n."))
    text = data.decode("utf-8", "replace")
    assert crlf_to_lf(text) == text.replace("\r\n", "\n")


def test_examples() -> None:
    assert crlf_only(b"a\r\nb\r\n") and not crlf_only(b"a\r\r\n") and not crlf_only(b"a\n\r\n")
    assert not crlf_only(b"a\r") and not crlf_only(b"\n")
    assert dot_stuff(b".a\r\n.b\r\nc.\r\n") == b"..a\r\n..b\r\nc.\r\n"
    assert dot_unstuff(b"\r\n..a\r\n.b\r\n") == b"\r\n.a\r\nb\r\n"
    assert lf_to_crlf(b"a\nb\r\nc\rd\n") == b"a\r\nb\r\nc\rd\r\n"
    assert crlf_to_lf("a\r\nb\rc\n") == "a\nb\rc\n"
    assert not dot_line(b"a.\r\nb") and dot_line(b"a\r\n.b") and dot_line(b".")


@given(mail_bytes, mail_bytes)
@example(b".a\r\n", b"b\r\n")  # a dot-led line in the head only
@example(b"X: 1\n", b"..x\r\n")  # a head with a bare LF: scanned whole
@example(b"", b"..\r\n")
@example(b"X: 1\r\n", b".x\r\ny\r\n")  # a dot the client did not stuff is removed
@example(b"X: 1\r\n", b"")
def test_wire_facts_from_the_data_readers_checks(head: bytes, wire: bytes) -> None:
    """What the SMTP DATA reader knows of a body it accepted (CRLF only, terminated, whether it
    unstuffed a dot-led line) gives the same wire facts as scanning the stored message."""
    if not crlf_only(wire) or (wire and not wire.endswith(b"\r\n")):
        wire = lf_to_crlf(wire.replace(b"\r", b"")) if wire else wire
        wire += b"" if not wire or wire.endswith(b"\r\n") else b"\r\n"
    content, unstuffed = dot_unstuff_count(b"\r\n" + wire)
    content = content[2:]
    raw = head + content
    assert wire_facts_checked_body(raw, len(head), bool(unstuffed) and dot_line(content)) == wire_facts(raw)
