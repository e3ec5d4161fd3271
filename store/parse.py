"""Parse a message once at delivery into everything IMAP FETCH/SEARCH/SORT/THREAD and webmail need.

RFC 5322 (message format), RFC 2045-2047/2231 (MIME, via store.mime_*), RFC 3501 §7.4.2
(ENVELOPE, BODYSTRUCTURE offsets), RFC 5256 §2.1 and §3 (base subject, SORT keys, THREAD
references), RFC 5957 (DISPLAYFROM). Pure Python, no Django, and parse_message never raises:
real-world mail is malformed in every way the fuzz tests can think of.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from store.mime_address import (
    address_display,
    build_envelope,
    display_sort_key,
    mailbox_sort_key,
)
from store.mime_body import (
    attachment_filename,
    decode_part_start,
    decode_part_text,
    iter_leaves,
    parse_body,
)
from store.mime_headers import field_value, header_end, header_fields, header_map
from store.mime_text import decode_rfc2047, guess_text

__all__ = [
    "ParsedMessage",
    "attachment_filename",
    "decode_part_text",
    "header_fields",
    "parse_message",
    "search_text",
    "subject_base",
]

# Text kept for SEARCH BODY/TEXT; beyond it a message is found by its first megabyte only.
MAX_SEARCH_TEXT = 1_000_000
PREVIEW_LENGTH = 200
PREVIEW_SOURCE = PREVIEW_LENGTH * 8  # characters of the first text the preview is made from
# Base-subject extraction loops per RFC 5256 §2.1; longer subjects are cut to bound the work.
MAX_SORT_SUBJECT = 10_000

_WHITESPACE = re.compile(r"\s+")
_MESSAGE_ID = re.compile(r"<([^<>]*)>")
# RFC 5256 §5: subj-blob, subj-refwd, subj-leader, subj-trailer, subj-fwd-hdr.
_BLOB = r"\[[^\[\]]*\] *"
_LEADER = re.compile(rf"(?:(?:{_BLOB})*(?:re|fwd?) *(?:{_BLOB})?:| )+", re.I)
_LEADING_BLOB = re.compile(_BLOB)
_TRAILER = re.compile(r"(?:\(fwd\)| )+$", re.I)
_HTML_HIDDEN = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.I | re.S)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d)\b[^<>]*>", re.I)
_HTML_TAG = re.compile(r"<[^<>]*>")
_BLANKS = re.compile(r"[^\S\n]+")


@dataclass(frozen=True)
class ParsedMessage:
    """Everything derived from a message's bytes; JSON-able apart from date_sent."""

    size: int
    envelope: list
    body: dict
    subject: str
    subject_base: str
    from_display: str
    to_display: str
    cc_display: str
    bcc_display: str
    from_sort: str
    to_sort: str
    cc_sort: str
    display_from: str
    date_sent: datetime | None
    message_id: str
    in_reply_to: str
    references: list[str]
    has_attachments: bool
    search_headers: str
    search_body: str
    preview: str


def parse_message(raw: bytes, *, search: bool = True) -> ParsedMessage:
    """Parse raw message bytes; any input yields a ParsedMessage, never an exception.

    search=False leaves search_body empty, for a store that works it out after the commit
    (search_text; store.services.search_index): only the start of the first text part is decoded,
    for the preview, where search decodes every text part.
    """
    raw = bytes(raw)
    try:
        return _parse(raw, search)
    except Exception:  # a parser bug must not bounce mail; the fuzz tests call _parse directly
        return replace(_parse(b""), size=len(raw))


def search_text(raw: bytes, body: dict[str, Any]) -> str:
    """The search_body of a message parse_message gave `body` (its BODYSTRUCTURE) for these bytes."""
    try:
        return _body_text(raw, body)[0]
    except Exception:  # as parse_message: never raise on a message
        return ""


def _parse(raw: bytes, search: bool = True) -> ParsedMessage:
    header_stop, _ = header_end(raw, 0, len(raw))
    fields = header_fields(raw[:header_stop])
    headers = header_map(fields)
    envelope = build_envelope(headers)
    body = parse_body(raw, headers)
    subject = _header_text(headers.get("subject"))
    search_body, preview = _body_text(raw, body) if search else ("", _preview_only(raw, body))
    in_reply_to = _message_ids(headers.get("in-reply-to"))
    return ParsedMessage(
        size=len(raw),
        envelope=envelope,
        body=body,
        subject=subject,
        subject_base=subject_base(subject),
        from_display=address_display(envelope[2]),
        to_display=address_display(envelope[5]),
        cc_display=address_display(envelope[6]),
        bcc_display=address_display(envelope[7]),
        from_sort=mailbox_sort_key(envelope[2]),
        to_sort=mailbox_sort_key(envelope[5]),
        cc_sort=mailbox_sort_key(envelope[6]),
        display_from=display_sort_key(envelope[2]),
        date_sent=_date(headers.get("date")),
        message_id=next(iter(_message_ids(headers.get("message-id"))), ""),
        in_reply_to=next(iter(in_reply_to), ""),
        references=_message_ids(headers.get("references")) or in_reply_to[:1],
        has_attachments=_has_attachments(body),
        search_headers=_search_headers(fields),
        search_body=search_body,
        preview=preview,
    )


def _search_headers(fields: list[tuple[str, bytes]]) -> str:
    """Every field as "Name: decoded value", one per line, for SEARCH HEADER/TEXT."""
    return "\n".join(f"{name}: {_header_text(field_value(field))}" for name, field in fields)


def _header_text(value: bytes | None) -> str:
    """Display text of a header value: 8-bit guessed, RFC 2047 decoded, whitespace collapsed."""
    if value is None:
        return ""
    return _collapse(decode_rfc2047(guess_text(value)))


def _collapse(text: str) -> str:
    """Runs of whitespace as one space, none at the ends: what re.sub(r"\\s+", " ") and strip()
    give (str.split() splits on the same characters), at a fraction of the cost on body text,
    where a match object per run made the preview the dearest step of a 4 KB message's parse."""
    return " ".join(text.split())


def subject_base(subject: str) -> str:
    """RFC 5256 §2.1 base subject of a decoded subject, casefolded for SORT/THREAD comparison."""
    return _subject_extract(subject)[0]


def subject_is_reply(subject: str) -> bool:
    """RFC 5256 §2.1: a reply or forward is a message whose base subject extraction removed a
    "Re:"/"Fw:"/"Fwd:" leader, a "(fwd)" trailer or a "[fwd: ...]" wrapper (THREAD step 5)."""
    return _subject_extract(subject)[1]


def _subject_extract(subject: str) -> tuple[str, bool]:
    text = _collapse(subject[:MAX_SORT_SUBJECT])
    reply = False
    while True:
        before = text
        trailer = _TRAILER.search(text)  # step 2
        if trailer:
            reply = reply or "(" in trailer.group()
            text = text[: trailer.start()]
        while True:
            leader = _LEADER.match(text)  # step 3
            stripped = text
            if leader:
                reply = reply or ":" in leader.group()
                stripped = text[leader.end() :]
            blob = _LEADING_BLOB.match(stripped)
            if blob and stripped[blob.end() :]:  # step 4: a blob goes only if text remains
                stripped = stripped[blob.end() :]
            if stripped == text:
                break
            text = stripped
        if text[:5].lower() == "[fwd:" and text.endswith("]"):  # step 5
            text = text[5:-1].strip()
            reply = True
        if text == before:
            return text.casefold(), reply


def _date(value: bytes | None) -> datetime | None:
    """Date header as aware UTC (RFC 5322 §3.3); a zone-less date is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(guess_text(value))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except Exception:  # parsedate raises assorted errors on junk and out-of-range fields
        return None


def _message_ids(value: bytes | None) -> list[str]:
    """Message-ids in order without duplicates (RFC 5322 §3.6.4, RFC 5256 §2.2 for References)."""
    if value is None:
        return []
    text = guess_text(value)
    found = [_WHITESPACE.sub("", inner) for inner in _MESSAGE_ID.findall(text)]
    if not found and "@" in text and not _WHITESPACE.search(text.strip()):
        found = [text.strip()]  # a bare id some mailers send without angle brackets
    return list(dict.fromkeys(f"<{inner}>" for inner in found if inner))


def _has_attachments(part: dict[str, Any]) -> bool:
    """True for attachment dispositions, named non-inline leaves and encapsulated messages."""
    if "parts" in part:
        return any(_has_attachments(child) for child in part["parts"])
    if "message" in part:
        return True
    disposition = part.get("disposition")
    if disposition and disposition[0] == "attachment":
        return True
    return disposition is None and part["type"] != "text" and attachment_filename(part) is not None


def _body_text(raw: bytes, body: dict[str, Any]) -> tuple[str, str]:
    """(search text of text parts and attachment names, preview) within MAX_SEARCH_TEXT."""
    pieces: list[str] = []
    preview_source = ""
    budget = MAX_SEARCH_TEXT
    for leaf in iter_leaves(body):
        name = attachment_filename(leaf)
        if name:
            pieces.append(name)
            budget -= len(name)
        if _readable(leaf) and budget > 0:
            # base64 is the densest common encoding: 4 bytes carry 3, so this bounds the read.
            text = _leaf_text(raw, leaf, limit=budget * 4)
            pieces.append(text)
            budget -= len(text)
            if not preview_source.strip() and not _attached(leaf):
                preview_source = text
        if budget <= 0:
            break
    return "\n".join(pieces)[:MAX_SEARCH_TEXT], _preview(preview_source)


def _preview_only(raw: bytes, body: dict[str, Any]) -> str:
    """The preview _body_text gives, decoding only the start of a plain text part where that is
    enough. (Unlike _body_text it does not stop after MAX_SEARCH_TEXT of earlier parts.)"""
    for leaf in iter_leaves(body):
        if not _readable(leaf) or _attached(leaf):
            continue
        text = decode_part_start(raw, leaf, PREVIEW_SOURCE) if leaf["subtype"] == "plain" else None
        if text is None or not text.strip():  # a blank start may be followed by text
            text = _leaf_text(raw, leaf)
        if text.strip():
            return _preview(text)
    return ""


def _readable(leaf: dict[str, Any]) -> bool:
    """A text part whose text is searched and may make the preview."""
    return bool(leaf["type"] == "text" and leaf["subtype"] in ("plain", "html"))


def _attached(leaf: dict[str, Any]) -> bool:
    return bool((leaf["disposition"] or [""])[0] == "attachment")


def _leaf_text(raw: bytes, leaf: dict[str, Any], limit: int | None = None) -> str:
    """A readable part's text: decoded, and for HTML what a reader sees of it."""
    text = decode_part_text(raw, leaf, limit=limit)
    return _html_text(text) if leaf["subtype"] == "html" else text


def _preview(source: str) -> str:
    return _collapse(source[:PREVIEW_SOURCE])[:PREVIEW_LENGTH]


def _html_text(markup: str) -> str:
    """Visible text of HTML: scripts, styles and comments dropped, tags removed, entities decoded."""
    text = _HTML_HIDDEN.sub(" ", markup)
    text = _HTML_BREAK.sub("\n", text)
    text = html.unescape(_HTML_TAG.sub(" ", text))
    return "\n".join(line for line in (_BLANKS.sub(" ", line).strip() for line in text.split("\n")) if line)
