"""MIME body structure with byte offsets, and decoding of a leaf part's content.

RFC 2045 (Content-* fields, defaults §5.2), RFC 2046 §5.1 (multipart boundaries, preamble and
epilogue; digest defaults to message/rfc822), RFC 2183 (Content-Disposition), RFC 3501 §7.4.2
(BODYSTRUCTURE fields). Our own boundary splitter works on bytes so every part carries
header_start / body_start / end offsets into the raw message: the IMAP server serves BODY[1.2],
BODY[1.2.MIME] and BODY[2.HEADER] by slicing. Never raises; nesting and part counts are bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from store.linebreaks import crlf_to_lf
from store.mime_address import build_envelope
from store.mime_headers import header_end, header_fields, header_map, parse_structured
from store.mime_text import (
    NOT_ASCII_COMPATIBLE,
    codec_for,
    decode_rfc2047,
    decode_text,
    guess_text,
    transfer_decode,
    wire_text,
)

# Deeper multiparts / messages become opaque leaves (Dovecot bounds nesting the same way).
MAX_NESTING = 50
# Dovecot's default max_total_mime_parts; parts beyond it are not listed (their bytes stay in raw).
MAX_PARTS = 10_000

Part = dict[str, Any]

_TEXT_PLAIN = ("text", "plain", [["charset", "us-ascii"]])
_MESSAGE_RFC822: tuple[str, str, list[list[str]]] = ("message", "rfc822", [])
_OPAQUE = ("application", "octet-stream")
_ENCAPSULATING = ("rfc822", "global")  # RFC 2046 §5.2.1, RFC 6532 §3.5


def parse_body(raw: bytes, headers: dict[str, bytes] | None = None) -> Part:
    """Body structure of the whole message; `headers` saves re-reading the top header block."""
    return _Splitter(raw).part(0, len(raw), 0, _TEXT_PLAIN, headers)[0]


class _Splitter:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.part_count = 0

    def part(
        self,
        header_start: int,
        end: int,
        depth: int,
        default: tuple[str, str, list[list[str]]],
        headers: dict[str, bytes] | None = None,
    ) -> tuple[Part, dict[str, bytes]]:
        """Describe the entity at raw[header_start:end]; return it and its header map."""
        header_stop, body_start = header_end(self.raw, header_start, end)
        if headers is None:
            headers = header_map(header_fields(self.raw[header_start:header_stop]))
        node = _describe(headers, default)
        node.update(
            header_start=header_start,
            body_start=body_start,
            end=end,
            size=end - body_start,
            lines=_count_lines(self.raw, body_start, end),
        )
        self.part_count += 1
        opaque = depth >= MAX_NESTING or self.part_count >= MAX_PARTS
        if node["type"] == "multipart":
            self._multipart(node, depth, opaque)
        elif node["type"] == "message" and node["subtype"] in _ENCAPSULATING:
            if opaque:
                node["type"], node["subtype"] = _OPAQUE
            else:
                inner, inner_headers = self.part(body_start, end, depth + 1, _TEXT_PLAIN)
                node["message"] = {
                    "envelope": build_envelope(inner_headers),
                    "body": inner,
                }
        return node, headers

    def _multipart(self, node: Part, depth: int, opaque: bool) -> None:
        boundary = _param(node["params"], "boundary")
        children = None
        if boundary and not opaque:
            digest = node["subtype"] == "digest"
            children = self._children(boundary.encode("utf-8"), node["body_start"], node["end"], depth, digest)
        if children:
            node["parts"] = children
        elif opaque:
            node["type"], node["subtype"] = _OPAQUE
        else:  # no boundary parameter, or it never occurs: one text/plain-like part (RFC 2045 §5.2)
            node["type"], node["subtype"], node["params"] = (
                _TEXT_PLAIN[0],
                _TEXT_PLAIN[1],
                [["charset", "us-ascii"]],
            )

    def _children(self, boundary: bytes, start: int, end: int, depth: int, digest: bool) -> list[Part]:
        default = _MESSAGE_RFC822 if digest else _TEXT_PLAIN
        delimiters = list(_delimiters(self.raw, boundary, start, end))
        children: list[Part] = []
        for index, (_, part_start, closing) in enumerate(delimiters):
            if closing or self.part_count >= MAX_PARTS:
                break
            part_end = end
            if index + 1 < len(delimiters):
                part_end = _before_line_break(self.raw, part_start, delimiters[index + 1][0])
            children.append(self.part(part_start, part_end, depth + 1, default)[0])
        return children


def _delimiters(raw: bytes, boundary: bytes, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    """Yield (line start, next line start, is close-delimiter) for each boundary line (RFC 2046 §5.1.1).

    A delimiter must start a line; after "--boundary" only transport padding may follow, except
    that a close-delimiter "--boundary--" tolerates trailing junk.
    """
    marker = b"--" + boundary
    position = start
    while True:
        found = raw.find(marker, position, end)
        if found < 0:
            return
        position = found + len(marker)
        if found != start and raw[found - 1] != 0x0A:
            continue
        closing = raw.startswith(b"--", position, end)
        newline = raw.find(b"\n", position, end)
        line_stop = end if newline < 0 else newline
        if not closing and raw[position:line_stop].strip(b" \t\r"):
            continue  # "--boundary-more": a longer boundary of a nested part, or text
        yield found, (end if newline < 0 else newline + 1), closing


def _before_line_break(raw: bytes, part_start: int, delimiter_start: int) -> int:
    """The CRLF (or LF) before a delimiter belongs to the delimiter, not the part (RFC 2046 §5.1.1)."""
    stop = delimiter_start
    if stop > part_start and raw[stop - 1] == 0x0A:
        stop -= 1
        if stop > part_start and raw[stop - 1] == 0x0D:
            stop -= 1
    return stop


def _count_lines(raw: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    return raw.count(b"\n", start, end) + (raw[end - 1] != 0x0A)


def _describe(headers: dict[str, bytes], default: tuple[str, str, list[list[str]]]) -> Part:
    """BODYSTRUCTURE fields from a part's Content-* headers (RFC 2045, RFC 2183, RFC 3066, RFC 2557)."""
    content_type = headers.get("content-type")
    media_type, subtype, params = (
        default[0],
        default[1],
        [list(pair) for pair in default[2]],
    )
    if content_type is not None:
        main, pairs = parse_structured(content_type)
        major, _, minor = main.partition("/")
        if major and minor:
            media_type, subtype, params = (
                major,
                minor,
                [[name, value] for name, value in pairs],
            )
        else:  # RFC 2045 §5.2: an unparsable Content-Type means text/plain; charset=us-ascii
            media_type, subtype, params = (
                _TEXT_PLAIN[0],
                _TEXT_PLAIN[1],
                [["charset", "us-ascii"]],
            )
    encoding = (
        parse_structured(headers["content-transfer-encoding"])[0] if "content-transfer-encoding" in headers else ""
    )
    disposition = None
    if "content-disposition" in headers:
        kind, pairs = parse_structured(headers["content-disposition"])
        disposition = [kind or "attachment", [[name, value] for name, value in pairs]]
    language = headers.get("content-language")
    return {
        "type": media_type,
        "subtype": subtype,
        "params": params,
        "id": _text(headers.get("content-id")),
        "description": _text(headers.get("content-description")),
        "encoding": encoding or "7bit",
        "md5": _text(headers.get("content-md5")),
        "disposition": disposition,
        "language": [tag.strip() for tag in wire_text(language).split(",") if tag.strip()] or None
        if language is not None
        else None,
        "location": _text(headers.get("content-location")),
    }


def _text(value: bytes | None) -> str | None:
    return None if value is None else wire_text(value)


def _param(params: list[list[str]], name: str) -> str | None:
    for key, value in params:
        if key == name:
            return value
    return None


def attachment_filename(part: Part) -> str | None:
    """Disposition filename, else Content-Type name, RFC 2231 and RFC 2047 decoded; None if absent."""
    disposition = part.get("disposition")
    candidates = [_param(disposition[1], "filename")] if disposition else []
    candidates.append(_param(part.get("params") or [], "name"))
    for candidate in candidates:
        if candidate:
            decoded = decode_rfc2047(candidate).strip()
            if decoded:
                return decoded
    return None


def decode_part_text(raw: bytes, part: Part, limit: int | None = None) -> str:
    """Decode a leaf part's body by transfer encoding and charset, line breaks normalised to LF.

    `limit` bounds the encoded bytes read, for callers that only need a prefix (search, preview).
    """
    stop = part["end"] if limit is None else min(part["end"], part["body_start"] + limit)
    data = transfer_decode(raw[part["body_start"] : stop], part.get("encoding") or "7bit")
    charset = _param(part.get("params") or [], "charset")
    text = decode_text(data, charset) if charset else guess_text(data)
    return crlf_to_lf(text)


def decode_part_start(raw: bytes, part: Part, chars: int) -> str | None:
    """The first `chars` characters (or more) of decode_part_text(raw, part), decoding only the
    start of a long part; None when that could differ from the start of decoding it all.

    Decoding a prefix gives the same text but for its last few characters when the charset is
    UTF-8 (stateless, errors replaced one by one) or the part is ASCII without escapes and not
    transfer-encoded (decoded byte by byte whatever the charset says, ISO-2022-JP aside). Other
    charsets may be guessed, or decoded another way, from what comes later in the part.
    """
    margin = chars + 64  # room for what a cut leaves at the end: half an escape, half a character
    limit = margin * 4  # base64 is the densest common encoding: 4 bytes carry 3
    start, end = part["body_start"], part["end"]
    if end - start <= limit:
        return None
    charset = _param(part.get("params") or [], "charset")
    codec = codec_for(charset) if charset else None
    if codec != "utf-8":
        if (part.get("encoding") or "7bit") in ("base64", "quoted-printable"):
            return None
        if codec is not None and codec.startswith(NOT_ASCII_COMPATIBLE):
            return None
        if not raw[start:end].isascii() or raw.find(b"\x1b", start, end) >= 0:
            return None
    text = decode_part_text(raw, part, limit=limit)
    return text if len(text) > margin else None


def iter_leaves(part: Part) -> Iterator[Part]:
    """Leaf parts in IMAP part order, descending into encapsulated messages."""
    if "parts" in part:
        for child in part["parts"]:
            yield from iter_leaves(child)
    elif "message" in part:
        yield from iter_leaves(part["message"]["body"])
    else:
        yield part
