"""Table-driven tests of the wire modules, and hypothesis fuzzing of the parser."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.imap.protocol.parser import (
    _ATOM_STOP,
    Atom,
    ParseError,
    String,
    _section_end,
    _section_end_scan,
    literal_announced,
    parse_command,
)
from agents.imap.protocol.response import quote
from agents.imap.protocol.seqset import SeqSet, SeqSetError, seqset_format
from agents.imap.protocol.utf7 import Utf7Error, utf7_decode, utf7_encode


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        (b"a1 NOOP", "NOOP", []),
        (b'a2 LOGIN "taro" {3}\r\nabc', "LOGIN", [String(b"taro"), String(b"abc")]),
        (b"a3 uid fetch 1:* (FLAGS)", "UID FETCH", [Atom("1:*"), [Atom("FLAGS")]]),
        (
            b"a4 FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]<0.10>",
            "FETCH",
            [Atom("1"), Atom("BODY.PEEK[HEADER.FIELDS (From To)]<0.10>")],
        ),
        (b'a5 SELECT "a\\"b"', "SELECT", [String(b'a"b')]),
        (b"a6 APPEND INBOX {2+}\r\nhi", "APPEND", [Atom("INBOX"), String(b"hi")]),
    ],
)
def test_parse_command(line, name, args):
    """Commands parse into their tokens; literals come back as strings."""
    command = parse_command(line)
    assert (command.name, command.args) == (name, args)


@pytest.mark.parametrize(
    "line",
    [b"", b"a1", b"a1 NOOP ", b'a1 LOGIN "unterminated', b"a1 FETCH 1 (FLAGS", b"a1 X {5}\r\nab", b"a(b NOOP"],
)
def test_parse_errors(line):
    """Malformed commands raise ParseError."""
    with pytest.raises(ParseError):
        parse_command(line)


SECTION_BYTES = st.lists(st.sampled_from([b"[", b"]", b"(", b")", b'"', b"\\", b" ", b"\r", b"A", b"1", b"."]))


@given(st.binary(max_size=5), SECTION_BYTES.map(b"".join))
@settings(max_examples=500)
def test_section_end_fast_path_agrees_with_the_scan(before, rest):
    """The shortcut for plain sections finds the same "]" as the byte-by-byte scan."""
    data = before + b"[" + rest
    assert _section_end(data, len(before)) == _section_end_scan(data, len(before))


@given(st.binary(min_size=1, max_size=40).filter(lambda b: b[:1] not in (b"(", b"{", b'"', b"~")))
@settings(max_examples=500)
def test_an_atom_ends_at_the_first_stop_byte_outside_a_section(text):
    """FETCH 1 <atom>: the atom is every byte up to a stop byte, sections kept whole."""
    try:
        command = parse_command(b"a1 FETCH 1 " + text)
    except ParseError:
        return
    atom = command.args[1]
    raw = atom.encode("utf-8", "surrogateescape") if isinstance(atom, str) else b""
    assert raw and text.startswith(raw)
    if b"[" not in raw:
        assert not set(raw) & _ATOM_STOP


def test_nesting_limit():
    """Parentheses deeper than 32 are refused."""
    with pytest.raises(ParseError):
        parse_command(b"a1 SEARCH " + b"(" * 40 + b"ALL" + b")" * 40)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a APPEND x {10}\r\n", (10, True, False)),
        (b"a APPEND x {10+}\r\n", (10, False, False)),
        (b"a B\r\n", None),
        (b"a APPEND " + b"x" * 200 + b" ~{18446744073709551615+}\r\n", (18446744073709551615, False, True)),
        (b"a SEARCH {3}\r\n" + b"x" * 200 + b"\r\n", None),
    ],
)
def test_literal_announced(line, expected):
    assert literal_announced(line) == expected


@pytest.mark.parametrize(
    ("text", "star", "ranges"),
    [
        ("1:4,7", 10, [(1, 4), (7, 7)]),
        ("*:*", 5, [(5, 5)]),
        ("1:4294967295", 3, [(1, 4294967295)]),
        ("3:1", 9, [(1, 3)]),
    ],
)
def test_seqset(text, star, ranges):
    """Sets resolve to merged ranges without expanding."""
    assert SeqSet.parse(text).resolve(star) == ranges


@pytest.mark.parametrize("text", ["", "0", "1:", "a", "4294967296", "1,,2"])
def test_seqset_errors(text):
    with pytest.raises(SeqSetError):
        SeqSet.parse(text)


def test_seqset_format():
    assert seqset_format([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"


@pytest.mark.parametrize(
    ("unicode", "wire"),
    [
        ("INBOX", "INBOX"),
        ("日本語", "&ZeVnLIqe-"),
        ("a&b", "a&-b"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("Sent Items/2026", "Sent Items/2026"),
        ("tab\there", "tab&AAk-here"),  # a control character is not printable ASCII: encoded
        ("del\x7f", "del&AH8-"),
    ],
)
def test_utf7(unicode, wire):
    """Modified UTF-7 round-trips (RFC 3501 §5.1.3)."""
    assert utf7_encode(unicode) == wire
    assert utf7_decode(wire) == unicode


@pytest.mark.parametrize("wire", ["&", "&Jjo", "&AGEA-", "é", "&@@-"])
def test_utf7_invalid(wire):
    with pytest.raises(Utf7Error):
        utf7_decode(wire)


def test_quote():
    """Quoted when safe, escaped quotes and backslashes, literal for CR/LF."""
    assert quote("a b") == b'"a b"'
    assert quote('a"b\\') == b'"a\\"b\\\\"'
    assert quote("a\r\nb") == b"{4}\r\na\r\nb"
    assert quote("a\rb") == b"{3}\r\na\rb" and quote(b"a\nb") == b"{3}\r\na\nb"
    assert quote(b"a\0b") == b"{3}\r\na\0b"
    assert quote("x" * 1025).startswith(b"{1025}\r\n") and quote("x" * 1024) == b'"' + b"x" * 1024 + b'"'
    assert quote("日本", utf8=False) == b"{6}\r\n" + "日本".encode() and quote("日本") == '"日本"'.encode()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_parser_fuzz(data):
    """Any bytes either parse or raise ParseError; nothing else."""
    try:
        parse_command(data)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=50))
def test_utf7_fuzz(text):
    """Encoding then decoding gives the text back; decoding junk raises only Utf7Error."""
    assert utf7_decode(utf7_encode(text)) == text
    try:
        utf7_decode(text)
    except Utf7Error:
        pass
