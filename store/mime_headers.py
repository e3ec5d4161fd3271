"""Header blocks on raw bytes: where they end, their fields, and MIME parameters.

RFC 5322 §2.2 (header fields, folding), RFC 2045 §5 (Content-Type syntax), RFC 2231 (parameter
continuations and charset'language'%xx values). Works on offsets into the raw message so the IMAP
server can slice BODY[HEADER] / BODY[x.MIME] without re-parsing; never raises.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from store.mime_text import decode_text, guess_text

# RFC 5322 §3.6.8 field-name: printable ASCII except ":"; trailing blanks before ":" are tolerated.
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
_LINE_BREAK = re.compile(rb"\r?\n")
_PARAM = re.compile(r'[\s;]*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)(?:"|$)|([^;]*))', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_CONTINUATION = re.compile(r"(.+)\*(\d{1,4})")
_TOKEN = re.compile(r"[^\s;(]+")


def header_end(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Return (end of header block, start of body) for the entity at raw[start:end].

    The header block keeps its last line break; the blank line separating it from the body belongs
    to neither. Without a blank line everything is header and the body is empty.
    """
    if raw.startswith(b"\r\n", start, end):
        return start, start + 2
    if raw.startswith(b"\n", start, end):
        return start, start + 1
    crlf = raw.find(b"\n\r\n", start, end)
    bare = raw.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)
    if bare >= 0:
        return bare + 1, bare + 2
    if crlf >= 0:
        return crlf + 1, crlf + 3
    return end, end


def header_fields(raw_header: bytes) -> list[tuple[str, bytes]]:
    """Split a header block into (name, raw field bytes incl. continuation lines and line breaks).

    Used for BODY[HEADER.FIELDS (...)]. Lines that are neither a field nor a continuation (an
    mbox "From " line, garbage) are skipped; a blank line ends the block.
    """
    fields: list[tuple[str, bytes]] = []
    lines = raw_header.split(b"\n")
    last = len(lines) - 1
    name: str | None = None
    chunks: list[bytes] = []
    for index, line in enumerate(lines):
        if line in (b"", b"\r"):
            break
        full = line + b"\n" if index < last else line
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                chunks.append(full)
            continue
        if name is not None:
            fields.append((name, b"".join(chunks)))
            name = None
        colon = line.find(b":")
        field_name = line[:colon].rstrip(b" \t")
        if colon > 0 and _FIELD_NAME.fullmatch(field_name):
            name = field_name.decode("ascii")
            chunks = [full]
    if name is not None:
        fields.append((name, b"".join(chunks)))
    return fields


def field_value(field: bytes) -> bytes:
    """Return the unfolded value of a raw field (RFC 5322 §2.2.3), without the name."""
    value = field[field.find(b":") + 1 :]
    return _LINE_BREAK.sub(b"", value).strip(b" \t\r\n")


def header_map(fields: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Map lowercased field name to the unfolded value of its first occurrence."""
    first: dict[str, bytes] = {}
    for name, field in fields:
        first.setdefault(name.lower(), field)
    return {name: field_value(field) for name, field in first.items()}


def parse_structured(value: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Split a Content-Type/Content-Disposition value into its lowercased main token and params.

    Parameter names are lowercased; values are unquoted and RFC 2231-decoded to str, in order of
    first appearance. RFC 2047 words inside values are left alone (see attachment_filename).
    """
    text = guess_text(value)
    main, _, rest = text.partition(";")
    token = _TOKEN.match(main.strip())
    raw_params: list[tuple[str, str]] = []
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            next_separator = rest.find(";", position + 1)
            position = len(rest) if next_separator < 0 else next_separator
            continue
        quoted, bare = match.group(2), match.group(3)
        param_value = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else (bare or "").strip()
        raw_params.append((match.group(1).lower(), param_value))
        position = max(match.end(), position + 1)
    return (token.group(0).lower() if token else ""), _join_rfc2231(raw_params)


def _join_rfc2231(raw_params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Assemble RFC 2231 §3-4 continuations and decode extended values; they win over plain ones."""
    plain: dict[str, str] = {}
    segments: dict[str, list[tuple[int, bool, str]]] = {}
    order: list[str] = []
    for name, value in raw_params:
        extended = name.endswith("*")
        base = name[:-1] if extended else name
        continuation = _CONTINUATION.fullmatch(base)
        index = 0
        if continuation:
            base, index = continuation.group(1), int(continuation.group(2))
        if base not in order:
            order.append(base)
        if extended or continuation:
            segments.setdefault(base, []).append((index, extended, value))
        else:
            plain.setdefault(base, value)
    result: list[tuple[str, str]] = []
    for name in order:
        if name in segments:
            result.append(
                (
                    name,
                    _decode_segments(sorted(segments[name], key=lambda item: item[0])),
                )
            )
        else:
            result.append((name, plain[name]))
    return result


def _decode_segments(segments: list[tuple[int, bool, str]]) -> str:
    """Join ordered RFC 2231 segments as bytes, then decode once with the first one's charset."""
    charset: str | None = None
    data = bytearray()
    for position, (_, extended, value) in enumerate(segments):
        if not extended:
            data += value.encode("utf-8")
            continue
        if position == 0 and value.count("'") >= 2:
            charset, _, value = value.split("'", 2)
        data += unquote_to_bytes(value)
    return decode_text(bytes(data), charset or None)
