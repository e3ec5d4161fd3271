"""FETCH data items (RFC 3501 §6.4.5, §7.4.2; BINARY RFC 3516; MODSEQ RFC 7162): parsing and body sections.

Sections are cut out of the blob by the byte offsets stored at delivery (store.parse), so
BODY[1.2]<0.100> reads at most those bytes; nothing is re-parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents.imap.errors import Bad
from agents.imap.folder_cache import HEADERS
from agents.imap.protocol.parser import Atom, Token
from agents.imap.protocol.structure import part_at
from store.blobs import blob_read_range
from store.mime_headers import header_fields
from store.mime_text import transfer_decode

MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
SIMPLE = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ"}
SIMPLE |= {"RFC822", "RFC822.HEADER", "RFC822.TEXT"}
_SECTION = re.compile(
    r"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<(\d{1,10})(?:\.(\d{1,10}))?>)?$", re.S | re.I
)
_SECTION_SPEC = re.compile(
    r"^((?:[1-9]\d{0,4})(?:\.[1-9]\d{0,4})*)?(?:\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?(.*)$",
    re.S | re.I,
)


@dataclass
class Section:
    """One BODY[...] / BINARY[...] item."""

    kind: str  # BODY, BINARY, BINARY.SIZE
    peek: bool
    path: list[int]
    text: str  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: list[str] = field(default_factory=list)
    partial: tuple[int, int | None] | None = None
    echo: str = ""  # the section as it appears in the response

    def __post_init__(self) -> None:
        # The header cache's key part for HEADER.FIELDS(.NOT), made once per parsed section
        # rather than for every message a FETCH of 20 headers answers.
        self.fields_key = (tuple(name.lower() for name in self.fields), self.text.endswith(".NOT"))
        name = f"{self.kind}[{self.echo}]"
        if self.partial is not None:
            name += f"<{self.partial[0]}>"
        self._response_name = name.encode("utf-8", "surrogateescape")

    def response_name(self) -> bytes:
        return self._response_name


@dataclass
class FetchRequest:
    simple: list[str]
    sections: list[Section]

    def want(self, name: str) -> None:
        """Answer `name` too: UID first in the reply (as clients expect), anything else last."""
        if name not in self.simple:
            if name == "UID":
                self.simple.insert(0, name)
            else:
                self.simple.append(name)

    def sets_seen(self) -> bool:
        return any(not s.peek and s.kind != "BINARY.SIZE" for s in self.sections) or bool(
            {"RFC822", "RFC822.TEXT"} & set(self.simple)
        )

    def columns(self) -> list[str]:
        """Store columns needed beyond the view's cached UID/FLAGS/MODSEQ."""
        needed: list[str] = []
        items = set(self.simple)
        if "INTERNALDATE" in items:
            needed.append("internal_date")
        if "RFC822.SIZE" in items:
            needed.append("size")
        if "ENVELOPE" in items:
            needed.append("envelope")
        if self.sections or items & {"BODY", "BODYSTRUCTURE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}:
            needed += ["blob", "body"]
        return needed


# Item lists already parsed: a client sends the same few again and again (Thunderbird's header
# list is a 200-byte item), so each is parsed once. Keyed by the tokens as sent; a list and a
# lone atom differ (macros apply to the atom only).
_PARSED: dict[tuple[str, ...] | str, FetchRequest] = {}
_PARSED_ENTRIES = 512


def fetch_parse(token: Token) -> FetchRequest:
    if isinstance(token, Atom):
        key: tuple[str, ...] | str | None = str(token)
    elif isinstance(token, list) and all(isinstance(item, Atom) for item in token):
        key = tuple(str(item) for item in token)
    else:
        key = None
    parsed = _PARSED.get(key) if key is not None else None
    if parsed is None:
        parsed = _fetch_parse(token)
        if key is not None:
            if len(_PARSED) >= _PARSED_ENTRIES:
                _PARSED.clear()
            _PARSED[key] = parsed
    # A copy: the command adds UID, FLAGS and MODSEQ to its own request. Sections never change.
    return FetchRequest(list(parsed.simple), list(parsed.sections))


def _fetch_parse(token: Token) -> FetchRequest:
    tokens = token if isinstance(token, list) else [token]
    if not tokens:
        raise Bad("Empty FETCH item list")
    request = FetchRequest([], [])
    for item in tokens:
        if not isinstance(item, Atom):
            raise Bad("Invalid FETCH item")
        name = str(item).upper()
        if name in MACROS and not isinstance(token, list):
            request.simple.extend(MACROS[name])
        elif name in SIMPLE:
            if name not in request.simple:
                request.simple.append(name)
        elif "[" in name:
            request.sections.append(section_parse(str(item)))
        else:
            raise Bad(f"Unknown FETCH item {name[:40]}")
    return request


def section_parse(text: str) -> Section:
    match = _SECTION.match(text)
    if match is None:
        raise Bad("Invalid section")
    kind_text, spec, origin, count = match.groups()
    kind = kind_text.upper()
    peek = kind.endswith(".PEEK")
    kind = kind.removesuffix(".PEEK")
    spec_match = _SECTION_SPEC.match(spec)
    if spec_match is None:
        raise Bad("Invalid section")
    path_text, part_text, rest = spec_match.groups()
    path = [int(piece) for piece in path_text.split(".")] if path_text else []
    part = (part_text or "").upper()
    fields: list[str] = []
    if part.startswith("HEADER.FIELDS"):
        names = rest.strip()
        if not (names.startswith("(") and names.endswith(")")):
            raise Bad("HEADER.FIELDS needs a list of names")
        fields = [name.strip('"') for name in names[1:-1].split()]
        if not fields:
            raise Bad("HEADER.FIELDS needs a list of names")
        if any(not re.fullmatch(r"[!-9;-~]+", name) for name in fields):
            raise Bad("Invalid header field name")
    elif rest:
        raise Bad("Invalid section")
    if part == "MIME" and not path:
        raise Bad("MIME needs a part number")
    if kind.startswith("BINARY") and part:
        raise Bad("BINARY takes part numbers only")
    partial = None
    if origin is not None:
        if kind == "BINARY.SIZE":
            raise Bad("BINARY.SIZE takes no partial")
        partial = (int(origin), int(count) if count is not None else None)
        if count is None:
            raise Bad("Partial needs origin.count")
    echo = spec
    if part.startswith("HEADER.FIELDS"):
        echo = (path_text + "." if path_text else "") + part + " (" + " ".join(n.upper() for n in fields) + ")"
    return Section(kind=kind, peek=peek, path=path, text=part, fields=fields, partial=partial, echo=echo)


def _header_fields_cached(digest: str, start: int, end: int, size: int, section: Section) -> bytes:
    names, exclude = section.fields_key
    key = (digest, start, names, exclude)
    found = HEADERS.get(key)
    if found is None:
        found = _filter_fields(blob_read_range(digest, start, end, size), section.fields, exclude)
        HEADERS.put(key, found, len(found) + 200)
    return found


def _filter_fields(header: bytes, names: list[str], exclude: bool) -> bytes:
    wanted = {name.lower() for name in names}
    kept = [raw for name, raw in header_fields(header) if (name.lower() in wanted) != exclude]
    return b"".join(kept) + b"\r\n"


def section_bytes(digest: str, body: dict[str, Any], section: Section) -> bytes | None:
    """The bytes a section names, or None when the part does not exist (answered as NIL / empty)."""
    part = part_at(body, section.path) if section.path else body
    if part is None:
        return None
    size = body["end"]  # the whole message's
    text = section.text
    if section.kind.startswith("BINARY"):
        if not section.path:  # BINARY[]: the whole message, which has no transfer encoding
            return blob_read_range(digest, 0, size, size)
        if "parts" in part:
            return None
        raw = blob_read_range(digest, part["body_start"], part["end"], size)
        return transfer_decode(raw, part.get("encoding") or "7bit")
    if text == "MIME":
        return blob_read_range(digest, part["header_start"], part["body_start"], size)
    if text.startswith("HEADER") or text == "TEXT":
        if section.path:
            if "message" not in part:
                return None
            part = part["message"]["body"]
        if text == "TEXT":
            return blob_read_range(digest, part["body_start"], part["end"], size)
        if text == "HEADER":
            return blob_read_range(digest, part["header_start"], part["body_start"], size)
        return _header_fields_cached(digest, part["header_start"], part["body_start"], size, section)
    if not section.path:
        return blob_read_range(digest, 0, size, size)
    return blob_read_range(digest, part["body_start"], part["end"], size)


def partial_slice(data: bytes, partial: tuple[int, int | None] | None) -> bytes:
    if partial is None:
        return data
    origin, count = partial
    return data[origin : origin + count] if count is not None else data[origin:]
