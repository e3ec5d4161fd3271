"""Text in the multi-line form that SMTP's DATA (RFC 5321 §4.5.2) and POP3 (RFC 1939 §3) send.

Every line ending CRLF, the last line terminated, a "." at the start of a line doubled, then the
terminating "." CRLF. Stored messages keep the bytes they arrived with, which may end lines with
a bare LF; a bare CR is left as it is. The scans are store.linebreaks's (C speed).
"""

from __future__ import annotations

from store.linebreaks import crlf_count, dot_stuff, lf_to_crlf

CRLF = b"\r\n"
TERMINATOR = b".\r\n"


def crlf_normalize(data: bytes) -> bytes:
    """Every line ending as CRLF, the last line terminated."""
    if not data:
        return b""
    if data.count(b"\n") != crlf_count(data):
        data = lf_to_crlf(data)
    if not data.endswith(b"\n"):
        data += CRLF
    return data


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
