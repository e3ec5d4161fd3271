"""Trace fields prepended to every accepted message (RFC 5321 §4.4, protocol names RFC 3848)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime
from secrets import token_hex

_date_cache: list[tuple[int, str]] = [(0, "")]  # (second, its RFC 5322 date): one formatting a second


def _date_now() -> str:
    second = int(time.time())
    cached_second, text = _date_cache[0]
    if cached_second != second:
        text = format_datetime(datetime.fromtimestamp(second, UTC))
        _date_cache[0] = (second, text)
    return text


def protocol_name(*, extended: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848) and UTF8SMTP* (RFC 6531 §3.7.3)."""
    if not extended:
        return "SMTP"
    base = "UTF8SMTP" if utf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def _clean(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in "()\\")[:255] or "unknown"


def received_header(
    *,
    helo: str,
    client_ip: str | None,
    hostname: str,
    protocol: str,
    recipient: str | None,
    tls_version: str | None = None,
) -> tuple[bytes, str]:
    """Return (the Received field with CRLF, the queue id it names)."""
    queue_id = token_hex(8)
    tls = f" ({tls_version})" if tls_version else ""
    for_clause = f"\r\n\tfor <{recipient}>" if recipient else ""
    field = (
        f"Received: from {_clean(helo)} ([{client_ip or 'unknown'}])\r\n"
        f"\tby {hostname} (Yubin) with {protocol}{tls} id {queue_id}{for_clause};\r\n"
        f"\t{_date_now()}\r\n"
    )
    return field.encode("utf-8"), queue_id
