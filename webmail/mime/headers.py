"""Header values for display: RFC 2047 encoded words, raw 8-bit (RFC 6532) and address lists."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime

from webmail.mime.charset import decode_text, guess_text

_FOLD = re.compile(r"\r?\n[ \t]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def header_text(value: bytes | str | None) -> str:
    """Decode one header value (encoded words, raw UTF-8 or Japanese 8-bit) into display text."""
    if value is None:
        return ""
    text = guess_text(value) if isinstance(value, bytes) else value
    text = _FOLD.sub(" ", text)
    if "=?" not in text:
        return _CONTROL.sub("", text).strip()
    try:
        pieces = decode_header(text)
    except Exception:  # a malformed encoded word shows as written
        return _CONTROL.sub("", text).strip()
    decoded: list[str] = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            decoded.append(piece)
        elif charset is None:
            decoded.append(piece.decode("raw-unicode-escape", errors="replace"))
        else:
            decoded.append(decode_text(piece, charset))
    return _CONTROL.sub("", "".join(decoded)).strip()


@dataclass(frozen=True)
class Mailbox:
    """One address of an address header, with its decoded display name."""

    name: str
    address: str

    def display(self) -> str:
        return self.name or self.address

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def address_list(value: bytes | str | None) -> list[Mailbox]:
    """Split an address header (From, To, Cc...) into mailboxes with decoded names."""
    if not value:
        return []
    raw = guess_text(value) if isinstance(value, bytes) else value
    raw = _FOLD.sub(" ", raw)
    return [
        Mailbox(name=header_text(name), address=address) for name, address in getaddresses([raw]) if address or name
    ]


def envelope_mailboxes(addresses: tuple | list | None) -> list[Mailbox]:
    """Mailboxes from an IMAP ENVELOPE address list (imapclient's Address tuples)."""
    mailboxes = []
    for entry in addresses or ():
        mailbox = entry.mailbox.decode("utf-8", "replace") if entry.mailbox else ""
        host = entry.host.decode("utf-8", "replace") if entry.host else ""
        if not host:  # RFC 3501 group syntax markers
            continue
        mailboxes.append(Mailbox(name=header_text(entry.name), address=f"{mailbox}@{host}"))
    return mailboxes


def header_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
