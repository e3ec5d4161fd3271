"""Content-Transfer-Encoding decoding (RFC 2045 §6) of part bytes fetched with BODY[section]."""

from __future__ import annotations

import base64
import binascii
import quopri
import re

from webmail.mime.charset import decode_text

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def transfer_decode(data: bytes, encoding: str) -> bytes:
    """Undo base64 / quoted-printable; other encodings are identity. Never raises."""
    encoding = (encoding or "").lower()
    if encoding == "base64":
        cleaned = _BASE64_JUNK.sub(b"", data)  # padding too: it is put back below
        if len(cleaned) % 4 == 1:  # a lone trailing character carries no whole byte
            cleaned = cleaned[:-1]
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def part_text(data: bytes, encoding: str, charset: str | None) -> str:
    """The text of a text/* part: transfer-decoded, then charset-decoded."""
    return decode_text(transfer_decode(data, encoding), charset)
