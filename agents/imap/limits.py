"""Named limits of the IMAP server, with the RFC or Dovecot default each follows."""

from __future__ import annotations

from django.conf import settings

MAX_LINE_LENGTH = 65536  # Dovecot imap_max_line_length = 64k
MAX_COMMAND_LITERALS = 1024 * 1024  # literals of commands other than APPEND, in all
NON_SYNC_LITERAL_MAX = 4096  # LITERAL- (RFC 7888 §5) limit; we advertise LITERAL+ but enforce this for huge ones
AUTOLOGOUT_SECONDS = 30 * 60  # RFC 3501 §5.4: at least 30 minutes when authenticated
PREAUTH_TIMEOUT_SECONDS = 60  # Dovecot login processes drop idle unauthenticated clients after a minute
FETCH_BATCH = 500  # messages read from the store per query while answering FETCH
FETCH_INLINE_READ_BYTES = 256 * 1024  # message bytes a FETCH batch may read on the event loop


def append_limit() -> int:
    """APPENDLIMIT (RFC 7889): the site's message size limit."""
    return int(settings.YUBIN_MESSAGE_SIZE_LIMIT)


def max_connections_per_ip() -> int:
    return int(settings.YUBIN_IMAP_MAX_CONNECTIONS_PER_IP)


def max_connections_per_account() -> int:
    return int(settings.YUBIN_IMAP_MAX_CONNECTIONS_PER_ACCOUNT)
