"""ManageSieve tokens (RFC 5804 §4): atoms, quoted strings, literal markers; response quoting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.managesieve.commands import oauthbearer_parse
from agents.managesieve.parser import (
    Atom,
    ParseError,
    String,
    line_tokens,
    number_value,
    quote,
    script_name_check,
)


@pytest.mark.parametrize(
    ("line", "tokens", "literal"),
    [
        (b"LISTSCRIPTS", [Atom("LISTSCRIPTS")], None),
        (b'GETSCRIPT "x"', [Atom("GETSCRIPT"), String(b"x")], None),
        (b'PUTSCRIPT "x" {12+}', [Atom("PUTSCRIPT"), String(b"x")], 12),
        (b"PUTSCRIPT {3}", [Atom("PUTSCRIPT")], 3),
        (b'HAVESPACE "a b" 100', [Atom("HAVESPACE"), String(b"a b"), Atom("100")], None),
        (b'NOOP "q\\"\\\\"', [Atom("NOOP"), String(b'q"\\')], None),
        (b"", [], None),
        (b" ", [], None),
        (b"{0+}", [], 0),
    ],
)
def test_line_tokens(line, tokens, literal):
    assert line_tokens(line) == (tokens, literal)


@pytest.mark.parametrize(
    "line",
    [b'"unterminated', b'"bad \\n escape"', b"NOOP !", b'"a""b"', b"NOOP x{3+}", b'"' + b"x" * 1025 + b'"'],
)
def test_line_tokens_refuses(line):
    with pytest.raises(ParseError):
        line_tokens(line)


@pytest.mark.parametrize(
    ("text", "wire"),
    [("plain", b'"plain"'), ('q"\\', b'"q\\"\\\\"'), ("two\r\nlines", b"{10}\r\ntwo\r\nlines"), ("", b'""')],
)
def test_quote(text, wire):
    """Short single-line text is quoted with escapes; anything with CR/LF becomes a literal."""
    assert quote(text) == wire


@pytest.mark.parametrize("name", ["", "a\nb", "tab\there", "del\x7f", "sep\u2028"])
def test_script_name_refuses(name):
    with pytest.raises(ParseError):
        script_name_check(name)


def test_oauthbearer_parse():
    """RFC 7628 §3.1: GS2 header with a=, then auth=Bearer <token>."""
    assert oauthbearer_parse(b"n,a=taro@example.test,\x01auth=Bearer abc123\x01\x01") == ("taro@example.test", "abc123")
    assert oauthbearer_parse(b"n,,\x01host=x\x01auth=Bearer t\x01\x01") == (None, "t")
    for bad in (b"", b"x,,\x01auth=Bearer t\x01\x01", b"n,,\x01auth=Basic t\x01\x01", b"n,,\x01auth=Bearer \x01\x01"):
        with pytest.raises(ParseError):
            oauthbearer_parse(bad)


@given(st.binary(max_size=400))
def test_any_line_tokenizes_or_fails_cleanly(line):
    """Untrusted input raises nothing but ParseError; quoting round-trips printable text."""
    try:
        line_tokens(line)
    except ParseError:
        pass


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=200))
def test_quote_round_trip(text):
    wire = quote(text)
    tokens, literal = line_tokens(b"NOOP " + wire)
    assert literal is None
    assert tokens == [Atom("NOOP"), String(text.encode())]


@pytest.mark.parametrize("text", ["²", "١٢", "", "12345678901"])
def test_number_value_refuses(text):
    """Numbers are ASCII digits (RFC 5804 number): '²' and other scripts' digits are refused
    like any other non-number, not handed to int()."""
    with pytest.raises(ParseError):
        number_value(Atom(text), "script size")


def test_number_value():
    assert number_value(Atom("1024"), "script size") == 1024
