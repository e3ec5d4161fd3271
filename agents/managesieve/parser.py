"""ManageSieve command syntax (RFC 5804 §4): atoms, quoted strings and literals.

A command is a line of space-separated arguments; a string argument is a quoted string or a
literal "{n+}" / "{n}" followed by CRLF and n octets, after which the command line continues.
ManageSieve has no continuation responses, so a synchronising literal "{n}" is read exactly like
"{n+}" (as Pigeonhole does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_OCTETS = 8192
MAX_QUOTED_OCTETS = 1024  # RFC 5804 §4: quoted strings are at most 1024 octets
MAX_LITERAL_OCTETS = 1024 * 1024  # a script is at most 256 KiB (store.services.sieve); beyond this we hang up
MAX_ARGUMENTS = 8

LITERAL_TAIL = re.compile(rb"\{(\d{1,10})(\+?)\}$")
_ATOM = re.compile(rb"[A-Za-z0-9_.-]+")


class ParseError(Exception):
    """Malformed command; str() is safe to send in a NO response."""


@dataclass(frozen=True)
class Atom:
    value: str  # command names and numbers (upper-cased for names by the caller)


@dataclass(frozen=True)
class String:
    value: bytes


Token = Atom | String


def quoted_parse(segment: bytes, start: int) -> tuple[bytes, int]:
    """A quoted string starting at segment[start] == '"'; returns (value, index after it)."""
    value = bytearray()
    position = start + 1
    while position < len(segment):
        octet = segment[position]
        if octet == 0x22:  # closing quote
            if len(value) > MAX_QUOTED_OCTETS:
                raise ParseError("quoted string too long; send a literal")
            return bytes(value), position + 1
        if octet == 0x5C:  # backslash escapes only '"' and '\'
            position += 1
            if position >= len(segment) or segment[position] not in b'"\\':
                raise ParseError("bad escape in quoted string")
            octet = segment[position]
        elif octet in (0x0D, 0x0A, 0x00):
            raise ParseError("CR, LF or NUL in quoted string")
        value.append(octet)
        position += 1
    raise ParseError("unterminated quoted string")


def line_tokens(line: bytes) -> tuple[list[Token], int | None]:
    """Tokens of one line (CRLF removed); the size of a literal that ends the line, if any."""
    tokens: list[Token] = []
    literal_size: int | None = None
    tail = LITERAL_TAIL.search(line)
    if tail is not None:
        literal_size = int(tail.group(1))
        line = line[: tail.start()]
        if line and not line.endswith(b" "):
            raise ParseError("literal must follow a space")
    position = 0
    while position < len(line):
        octet = line[position]
        if octet == 0x20:
            position += 1
            continue
        if octet == 0x22:
            value, position = quoted_parse(line, position)
            tokens.append(String(value))
        else:
            match = _ATOM.match(line, position)
            if match is None:
                raise ParseError("unexpected character in command")
            tokens.append(Atom(match.group().decode("ascii")))
            position = match.end()
        if position < len(line) and line[position] != 0x20:
            raise ParseError("arguments must be separated by a space")
    return tokens, literal_size


def string_text(token: Token, what: str) -> str:
    """A string argument as UTF-8 text."""
    if not isinstance(token, String):
        raise ParseError(f"{what} must be a string")
    try:
        return token.value.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{what} is not UTF-8") from None


def number_value(token: Token, what: str) -> int:
    if not isinstance(token, Atom) or not (token.value.isascii() and token.value.isdigit()) or len(token.value) > 10:
        raise ParseError(f"{what} must be a number")
    return int(token.value)


def script_name_check(name: str) -> str:
    """RFC 5804 §1.6: no control characters, no LINE/PARAGRAPH SEPARATOR, not empty."""
    if not name or any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029" for ch in name):
        raise ParseError("invalid script name")
    return name


def quote(text: str) -> bytes:
    """A string for a response: quoted when short and single-line, otherwise a literal."""
    data = text.encode("utf-8")
    if len(data) <= MAX_QUOTED_OCTETS and not any(octet in data for octet in b"\r\n\0"):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data
