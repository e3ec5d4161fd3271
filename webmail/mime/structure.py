"""The IMAP BODYSTRUCTURE (RFC 3501 §7.4.2) as a tree of parts with their section numbers.

imapclient parses the response into nested tuples; this module names the fields, numbers the
sections the way FETCH BODY[section] expects (RFC 3501 §6.4.5), decodes parameter values
(RFC 2231 and the RFC 2047 names that real mailers send) and picks what to show: the text or
HTML body, inline `cid:` images and the attachments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import collapse_rfc2231_value, decode_params
from typing import Any

from webmail.mime.headers import header_text

MAX_DEPTH = 40  # deeper structures are shown as opaque attachments


@dataclass
class Part:
    section: str  # "1", "1.2", ...; "" for a multipart root
    content_type: str  # lower-case "type/subtype"
    params: dict[str, str] = field(default_factory=dict)
    content_id: str = ""
    encoding: str = "7bit"
    size: int = 0
    disposition: str = ""
    disposition_params: dict[str, str] = field(default_factory=dict)
    children: list[Part] = field(default_factory=list)

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0]

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def filename(self) -> str:
        return self.disposition_params.get("filename") or self.params.get("name") or ""

    def walk(self) -> Iterator[Part]:
        yield self
        for child in self.children:
            yield from child.walk()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _params(raw: object) -> dict[str, str]:
    """Parameter pairs, with RFC 2231 continuations and charsets joined and decoded."""
    if not isinstance(raw, (tuple, list)):
        return {}
    items = list(raw)
    pairs = [(_text(items[i]).lower(), _text(items[i + 1])) for i in range(0, len(items) - 1, 2)]
    joined: list[tuple[str, Any]]
    try:
        joined = decode_params([("", ""), *[(name, f'"{value}"') for name, value in pairs]])[1:]
    except Exception:
        joined = pairs
    params: dict[str, str] = {}
    for name, value in joined:
        text = (collapse_rfc2231_value(value) if isinstance(value, tuple) else value).strip('"')
        params[name.lower()] = header_text(text) if "=?" in text else text
    return params


def _disposition(raw: object) -> tuple[str, dict[str, str]]:
    if isinstance(raw, (tuple, list)) and raw:
        return _text(raw[0]).lower(), _params(raw[1] if len(raw) > 1 else None)
    return "", {}


def structure_parse(body: object, section: str = "", depth: int = 0) -> Part:
    """Turn imapclient's BODYSTRUCTURE value into a Part tree."""
    if not isinstance(body, (tuple, list)) or not body:
        return Part(section=section or "1", content_type="application/octet-stream")
    if isinstance(body[0], (tuple, list)):
        return _multipart(body, section, depth)
    return _single(body, section or "1", depth)


def _multipart(body: tuple | list, section: str, depth: int) -> Part:
    # imapclient nests the children of a top-level multipart in a list (element 0); a multipart
    # inside message/rfc822 keeps them inline, before the subtype.
    if isinstance(body[0], list):
        children_raw, rest = list(body[0]), list(body[1:])
    else:
        count = next((i for i, item in enumerate(body) if not isinstance(item, (tuple, list))), len(body))
        children_raw, rest = list(body[:count]), list(body[count:])
    subtype = _text(rest[0]).lower() if rest else "mixed"
    node = Part(section=section, content_type=f"multipart/{subtype or 'mixed'}")
    if len(rest) > 1:
        node.params = _params(rest[1])
    if len(rest) > 2:
        node.disposition, node.disposition_params = _disposition(rest[2])
    if depth >= MAX_DEPTH:
        return node
    for index, child in enumerate(children_raw, start=1):
        child_section = f"{section}.{index}" if section else str(index)
        node.children.append(structure_parse(child, child_section, depth + 1))
    return node


def _single(body: tuple | list, section: str, depth: int) -> Part:
    fields = list(body) + [None] * 12
    content_type = f"{_text(fields[0]).lower()}/{_text(fields[1]).lower()}"
    part = Part(
        section=section,
        content_type=content_type,
        params=_params(fields[2]),
        content_id=_text(fields[3]).strip().strip("<>"),
        encoding=_text(fields[5]).lower() or "7bit",
        size=int(fields[6]) if isinstance(fields[6], int) else 0,
    )
    extension = 7
    if content_type == "message/rfc822":
        inner = fields[8]
        if depth < MAX_DEPTH and isinstance(inner, (tuple, list)):
            child = structure_parse(inner, section, depth + 1)
            if not child.is_multipart:  # RFC 3501 §6.4.5: the body of a non-multipart message is N.1
                child.section = f"{section}.1"
            part.children.append(child)
        extension = 10
    elif part.maintype == "text":
        extension = 8
    # md5 then disposition
    part.disposition, part.disposition_params = _disposition(fields[extension + 1])
    return part


@dataclass
class Display:
    """What the message view shows: one text and/or HTML body, cid: resources, attachments."""

    text: Part | None = None
    html: Part | None = None
    related: dict[str, Part] = field(default_factory=dict)  # Content-ID -> part
    attachments: list[Part] = field(default_factory=list)


def display_parts(root: Part) -> Display:
    display = Display()
    _collect(root, display)
    for part in root.walk():
        if part.content_id and not part.is_multipart:
            display.related.setdefault(part.content_id, part)
    return display


def _is_body_text(part: Part) -> bool:
    return part.content_type in ("text/plain", "text/html") and part.disposition != "attachment"


def _collect(part: Part, display: Display) -> None:
    if part.content_type == "multipart/alternative":
        for child in part.children:
            if child.is_multipart:
                _collect(child, display)
            elif child.content_type == "text/plain" and display.text is None:
                display.text = child
            elif child.content_type == "text/html" and display.html is None:
                display.html = child
        return
    if part.content_type == "multipart/related" and part.children:
        _collect(part.children[0], display)
        for child in part.children[1:]:
            if child.is_multipart:
                _collect(child, display)
            elif not child.content_id:
                display.attachments.append(child)
        return
    if part.is_multipart:
        for child in part.children:
            _collect(child, display)
        return
    if _is_body_text(part) and display.text is None and display.html is None:
        if part.content_type == "text/plain":
            display.text = part
        else:
            display.html = part
        return
    display.attachments.append(part)


def has_attachments(root: Part) -> bool:
    return bool(display_parts(root).attachments)
