"""Text in the multi-line form that SMTP's DATA (RFC 5321 §4.5.2) and POP3 (RFC 1939 §3) send.

Every line ending CRLF, the last line terminated, a "." at the start of a line doubled, then the
terminating "." CRLF. Stored messages keep the bytes they arrived with, which may end lines with
a bare LF; a bare CR is left as it is. Plain bytes methods (C speed), no regular expressions.
"""

from __future__ import annotations

CRLF = b"\r\n"
TERMINATOR = b".\r\n"


def crlf_normalize(data: bytes) -> bytes:
    """Every line ending as CRLF, the last line terminated."""
    if not data:
        return b""
    if data.count(b"\n") != data.count(b"\r\n"):
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\n"):
        data += CRLF
    return data


def dot_stuff(lines: bytes) -> bytes:
    """Double a leading "." on every line of CRLF-terminated lines that start at a line start."""
    stuffed = lines.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed


def encode_message(data: bytes, *, crlf_clean: bool = False, dot_lines: bool = True) -> bytes:
    """A whole message in multi-line form, terminator included.

    crlf_clean says the caller knows every line already ends in CRLF (the common case), which
    spares two scans of the message; dot_lines=False that no line starts with "." (both are
    recorded per blob at write time, store.blobs.wire_facts).
    """
    if not data:
        return TERMINATOR
    if not crlf_clean:
        data = crlf_normalize(data)
    return (dot_stuff(data) if dot_lines else data) + TERMINATOR
