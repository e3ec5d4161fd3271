"""POP3 command-line and SASL PLAIN parsing (RFC 1939 §3, RFC 4616 §2)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.pop3.parser import (
    Command,
    ParseError,
    command_parse,
    line_count_parse,
    message_number_parse,
    sasl_plain_decode,
)


@pytest.mark.parametrize(
    ("line", "keyword", "argument"),
    [
        (b"STAT\r\n", "STAT", ""),
        (b"stat\r\n", "STAT", ""),
        (b"RETR 1\r\n", "RETR", "1"),
        (b"PASS  two  spaces \r\n", "PASS", " two  spaces "),
        (b"TOP 1 10\n", "TOP", "1 10"),
        (b"USER \xe5\xa4\xaa\xe9\x83\x8e@example.test\r\n", "USER", "太郎@example.test"),
    ],
)
def test_command_parse(line, keyword, argument):
    """Keyword upper-cased; the argument is the rest of the line as sent."""
    assert command_parse(line) == Command(keyword, argument)


@pytest.mark.parametrize(
    "line", [b"\r\n", b"   \r\n", b"RETRIEVE 1\r\n", b"R3TR\r\n", b"ST\x00AT\r\n", b"\xff\xfe\r\n"]
)
def test_command_parse_refuses(line):
    """Empty lines, long or non-alphabetic keywords and control characters are parse errors."""
    with pytest.raises(ParseError):
        command_parse(line)


@pytest.mark.parametrize(("text", "number"), [("1", 1), ("007", 7), ("4294967296", 4294967296), ("9" * 40, 10**10)])
def test_message_number(text, number):
    """Decimal numbers; absurdly long ones name no message instead of costing a big int."""
    assert message_number_parse(text) == number


@pytest.mark.parametrize("text", ["0", "-1", "+1", "1.0", "x", "", "１"])
def test_message_number_refuses(text):
    with pytest.raises(ParseError):
        message_number_parse(text)


def test_line_count_allows_zero():
    assert line_count_parse("0") == 0
    with pytest.raises(ParseError):
        line_count_parse("-3")


def test_sasl_plain_decode():
    """authzid NUL authcid NUL password, UTF-8 (RFC 4616 §2)."""
    token = base64.b64encode("\0taro@example.test\0pässword".encode()).decode()
    assert sasl_plain_decode(token) == ("", "taro@example.test", "pässword")


@pytest.mark.parametrize(
    "payload",
    [b"only-one-part", b"a\0b", b"a\0b\0c\0d", b"\0\0pw", b"\0user\0", b"\0\xff\xfe\0pw"],
)
def test_sasl_plain_refuses(payload):
    with pytest.raises(ParseError):
        sasl_plain_decode(base64.b64encode(payload).decode())


@given(st.binary(max_size=300))
def test_any_line_parses_or_fails_cleanly(line):
    """Untrusted input never raises anything but ParseError."""
    try:
        command = command_parse(line)
    except ParseError:
        return
    for argument in command.arguments:
        for parse in (message_number_parse, line_count_parse):
            try:
                parse(argument)
            except ParseError:
                pass
    try:
        sasl_plain_decode(command.argument)
    except ParseError:
        pass
