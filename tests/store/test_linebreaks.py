"""store.linebreaks agrees with the plain bytes and str methods it stands in for, on any input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from store.linebreaks import crlf_count, crlf_only, crlf_to_lf, dot_line, dot_stuff, dot_unstuff, lf_to_crlf

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
