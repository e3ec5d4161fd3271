"""POP-before-SMTP (the legacy scheme of the 1990s): a POP3/IMAP login opens submission for a while.

Off by default (YUBIN_POP_BEFORE_SMTP_MINUTES = 0). SMTP-AUTH (RFC 4954) is the recommended
way; this exists for old clients that cannot authenticate on submission. The POP3 and IMAP
servers call `pbs_record` after each successful login; the submission server calls
`pbs_allowed`. Records live in Django's cache so every agents process on the host sees them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

_KEY = "yubin:pbs:{ip}"


def pbs_record(client_ip: str | None, address: str = "") -> None:
    """Remember a successful POP3/IMAP login from this client address (no-op when off)."""
    minutes = settings.YUBIN_POP_BEFORE_SMTP_MINUTES
    if minutes <= 0 or not client_ip:
        return
    cache.set(_KEY.format(ip=client_ip), address or "1", timeout=minutes * 60)


def pbs_allowed(client_ip: str | None) -> str | None:
    """The address that logged in from client_ip within the window, or None."""
    if settings.YUBIN_POP_BEFORE_SMTP_MINUTES <= 0 or not client_ip:
        return None
    value = cache.get(_KEY.format(ip=client_ip))
    return str(value) if value else None
