"""ENVELOPE and BODY/BODYSTRUCTURE (RFC 3501 §7.4.2) serialised from the stored parse results.

The store keeps both as JSON (store.parse): envelopes as nested lists with raw header text, body
trees with byte offsets. Nothing here reads the message bytes.
"""

from __future__ import annotations

from typing import Any

from agents.imap.protocol.response import nstring, quote


def envelope_bytes(envelope: list[Any]) -> bytes:
    fields = [nstring(envelope[0]), nstring(envelope[1])]
    fields.extend(_addresses(envelope[index]) for index in range(2, 8))
    fields.extend((nstring(envelope[8]), nstring(envelope[9])))
    return b"(" + b" ".join(fields) + b")"


def _addresses(items: list[list[str | None]] | None) -> bytes:
    if not items:
        return b"NIL"
    return b"(" + b"".join(b"(" + b" ".join(nstring(part) for part in item) + b")" for item in items) + b")"


def body_bytes(part: dict[str, Any], *, extended: bool) -> bytes:
    """BODYSTRUCTURE (extended=True) or BODY (extended=False) of a stored body tree."""
    if "parts" in part:
        children = b"".join(body_bytes(child, extended=extended) for child in part["parts"])
        out = children + b" " + quote(part["subtype"].upper())
        if extended:
            out += b" " + _params(part["params"]) + b" " + _extension_tail(part)
        return b"(" + out + b")"
    fields = [
        quote(part["type"].upper()),
        quote(part["subtype"].upper()),
        _params(part["params"]),
        nstring(part.get("id")),
        nstring(part.get("description")),
        quote((part.get("encoding") or "7bit").upper()),
        b"%d" % part["size"],
    ]
    if "message" in part:
        inner = part["message"]
        fields.append(envelope_bytes(inner["envelope"]))
        fields.append(body_bytes(inner["body"], extended=extended))
        fields.append(b"%d" % part["lines"])
    elif part["type"] == "text":
        fields.append(b"%d" % part["lines"])
    if extended:
        fields.append(nstring(part.get("md5")))
        fields.append(_extension_tail(part))
    return b"(" + b" ".join(fields) + b")"


def _params(params: list[list[str]] | None) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(quote(name.upper()) + b" " + quote(value) for name, value in params) + b")"


def _extension_tail(part: dict[str, Any]) -> bytes:
    disposition = part.get("disposition")
    disposition_bytes = (
        b"(" + quote(disposition[0].upper()) + b" " + _params(disposition[1]) + b")" if disposition else b"NIL"
    )
    language = part.get("language")
    if not language:
        language_bytes = b"NIL"
    elif len(language) == 1:
        language_bytes = quote(language[0])
    else:
        language_bytes = b"(" + b" ".join(quote(tag) for tag in language) + b")"
    return disposition_bytes + b" " + language_bytes + b" " + nstring(part.get("location"))


def part_at(body: dict[str, Any], path: list[int]) -> dict[str, Any] | None:
    """The part a section number names (RFC 3501 §6.4.5): "1.2" -> [1, 2]; None when absent.

    A non-multipart message has one part, number 1; the parts of an encapsulated message are
    addressed through it.
    """
    current = body
    for depth, number in enumerate(path):
        # After the first number, a message/rfc822 part's numbers address the parts of the
        # message it encapsulates ("1.1" of a message/rfc822 message is its inner message's body).
        if depth and "message" in current:
            current = current["message"]["body"]
        if "parts" in current:
            parts = current["parts"]
            if not 1 <= number <= len(parts):
                return None
            current = parts[number - 1]
        elif number == 1:
            continue
        else:
            return None
    return current
