"""Downgrades for servers without 8BITMIME (RFC 6152 §3) or SMTPUTF8 (RFC 6531 §3.4).

An 8-bit body is re-encoded part by part (quoted-printable for text, base64 otherwise) before the
DKIM signature is made. 8-bit header fields cannot be downgraded here (RFC 6857's rewriting is
not done): such a message, like one with UTF-8 addresses, bounces with 5.6.7 when the server
does not offer SMTPUTF8.
"""

from __future__ import annotations

from email import encoders
from email.parser import BytesParser
from email.policy import compat32


def has_8bit(data: bytes) -> bool:
    return not data.isascii()


def header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw[:end] if end >= 0 else raw


def needs_smtputf8(raw: bytes, sender: str, recipients: list[str]) -> bool:
    """UTF-8 in an address or a header field: only an SMTPUTF8 server can take the message as is."""
    return not all(a.isascii() for a in [sender, *recipients]) or has_8bit(header_block(raw))


def to_7bit(raw: bytes) -> bytes | None:
    """The message with every 8-bit body part re-encoded; None when its headers hold 8-bit data."""
    if has_8bit(header_block(raw)):
        return None
    message = BytesParser(policy=compat32).parsebytes(raw)
    for part in message.walk():
        if part.is_multipart():
            continue
        encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
        if encoding not in ("8bit", "binary", "7bit", ""):
            continue  # already quoted-printable or base64
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not has_8bit(payload):
            continue
        del part["Content-Transfer-Encoding"]
        part.set_payload(payload)
        if part.get_content_maintype() == "text":
            encoders.encode_quopri(part)
        else:
            encoders.encode_base64(part)
    return message.as_bytes(policy=compat32.clone(linesep="\r\n"))
