"""Message bytes as POP3 sends them: CRLF line endings and dot-stuffing (RFC 1939 §3).

Stored messages keep the bytes they arrived with, which may end lines with a bare LF. POP3 sends
every line ending as CRLF, the last line terminated, and a "." at the start of a line doubled.
The size POP3 announces (STAT, LIST, RFC 1939 §5) is the size of the message as the client has
it after removing the dot-stuffing: the CRLF-normalised bytes, so a client that compares the
announced size with what it received finds them equal. A bare CR is left as it is.
"""

from __future__ import annotations

from agents.multiline import CRLF, TERMINATOR, crlf_normalize
from store.linebreaks import crlf_count, dot_stuff


def crlf_size(data: bytes) -> int:
    """Length of data once every line ends with CRLF (the last line included)."""
    if not data:
        return 0
    bare_lf = data.count(b"\n") - crlf_count(data)
    unterminated = 0 if data.endswith(b"\n") else 2
    return len(data) + bare_lf + unterminated


class WireEncoder:
    """Turns a message read in chunks into its multi-line POP3 form, chunk by chunk.

    Only whole lines are encoded; a partial last line waits for the next chunk, so CRLF pairs and
    leading dots split across chunk boundaries come out right.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self._pending = data
            return b""
        self._pending = data[cut:]
        return dot_stuff(crlf_normalize(data[:cut]))

    def finish(self) -> bytes:
        """The rest of the message and the terminating ".CRLF"."""
        tail = dot_stuff(crlf_normalize(self._pending)) if self._pending else b""
        self._pending = b""
        return tail + TERMINATOR


def wire_parts(header: bytes, data: bytes, *, crlf_clean: bool, dot_lines: bool) -> list[bytes | memoryview]:
    """header, then data in multi-line form and the terminator, as parts for one gathered write.

    Dot-stuffing inserts a "." part before each slice that starts a dot-led line instead of
    copying the message: a message keeps its bytes, the client gets exactly encode_message(data).
    """
    if not data:
        return [header, TERMINATOR]
    if not crlf_clean:
        data = crlf_normalize(data)
    if not dot_lines:
        return [header, data, TERMINATOR]
    view = memoryview(data)
    parts: list[bytes | memoryview] = [header]
    start = 0
    if data.startswith(b"."):
        parts.append(b".")
    position = data.find(b"\n.")
    while position >= 0:
        parts.append(view[start : position + 1])
        parts.append(b".")
        start = position + 1
        position = data.find(b"\n.", start)
    parts.append(view[start:])
    parts.append(TERMINATOR)
    return parts


def top_lines(data: bytes, body_lines: int) -> bytes:
    """The header, the blank line and the first body_lines body lines (TOP, RFC 1939 §7), CRLF-normalised."""
    normalized = crlf_normalize(data)
    if normalized.startswith(CRLF):
        header_stop = 2
    else:
        separator = normalized.find(b"\r\n\r\n")
        if separator < 0:
            return normalized
        header_stop = separator + 4
    position = header_stop
    for _ in range(body_lines):
        next_end = normalized.find(CRLF, position)
        if next_end < 0:
            return normalized
        position = next_end + 2
    return normalized[:position]
