"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3); with UTF8=ACCEPT names travel as UTF-8 (RFC 6855)."""

from __future__ import annotations

import base64
import re

_SHIFT = re.compile(r"&([^-]*)-")


class Utf7Error(ValueError):
    """A mailbox name that is not valid modified UTF-7."""


def utf7_encode(name: str) -> str:
    """Unicode -> modified UTF-7: printable ASCII stays, "&" becomes "&-", the rest is base64 of UTF-16BE."""
    if name.isascii() and name.isprintable() and "&" not in name:
        return name  # most names: every character stays (a LIST of a few folders spent a fifth here)
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def utf7_decode(name: str) -> str:
    """Modified UTF-7 -> Unicode; raise Utf7Error on anything RFC 3501 §5.1.3 does not allow."""
    if any(not 0x20 <= ord(char) <= 0x7E for char in name):
        raise Utf7Error("mailbox name has 8-bit or control characters")
    out: list[str] = []
    position = 0
    while position < len(name):
        amp = name.find("&", position)
        if amp < 0:
            out.append(name[position:])
            break
        out.append(name[position:amp])
        match = _SHIFT.match(name, amp)
        if match is None:
            raise Utf7Error("unterminated & shift in mailbox name")
        encoded = match.group(1)
        if not encoded:
            out.append("&")
        else:
            out.append(_decode_shift(encoded))
        position = match.end()
    decoded = "".join(out)
    if utf7_encode(decoded) != name:  # non-canonical forms (e.g. "&AGEA-" for "a") are refused
        raise Utf7Error("mailbox name is not in canonical modified UTF-7")
    return decoded


def _decode_shift(encoded: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9+,]+", encoded):
        raise Utf7Error("bad character in modified base64")
    padded = encoded.replace(",", "/") + "=" * (-len(encoded) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
        text = data.decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        raise Utf7Error("bad modified base64 in mailbox name") from None
    if len(data) % 2:
        raise Utf7Error("odd byte count in modified base64")
    return text
