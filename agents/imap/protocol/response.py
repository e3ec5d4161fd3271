"""Response building (RFC 3501 §4, §7, §9): quoted strings, literals, NIL, and the status replies.

Every reply text the server sends is named here once; handlers raise errors carrying these.
"""

from __future__ import annotations

from collections.abc import Iterable


def quote(value: str | bytes, *, utf8: bool = True) -> bytes:
    """A string as a quoted string when it can be one, otherwise as a literal (CR, LF or NUL in
    it, over 1,024 octets, or 8-bit where UTF-8 is not allowed)."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if len(data) > 1024 or b"\r" in data or b"\n" in data or b"\0" in data or (not utf8 and not data.isascii()):
        return b"{%d}\r\n" % len(data) + data
    if b"\\" in data or b'"' in data:
        data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + data + b'"'


def nstring(value: str | bytes | None) -> bytes:
    return b"NIL" if value is None else quote(value)


def literal(data: bytes, *, binary: bool = False) -> bytes:
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % len(data) + data


def astring(value: str) -> bytes:
    """An atom when the text is a plain atom, else a quoted string or literal (mailbox names)."""
    if value and all(c.isascii() and c.isprintable() and c not in ' (){%*"\\]' for c in value):
        return value.encode("ascii")
    return quote(value)


def plist(items: Iterable[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"


# Reply texts, named once (STYLE: never inline in handlers).
GREETING = "Yubin IMAP4rev1 ready"
LOGOUT = "Logging out"
COMPLETED = "completed"
TLS_GO = "Begin TLS negotiation now"
TLS_ACTIVE = "TLS is already active"
LOGIN_DISABLED = "Plaintext authentication is disabled before STARTTLS"
AUTH_FAILED = "Authentication failed"
AUTH_THROTTLED = "Too many failed logins; try again later"
AUTH_CANCELLED = "Authentication cancelled"
NO_SUCH_MAILBOX = "Mailbox does not exist"
MAILBOX_EXISTS = "Mailbox already exists"
NO_SELECTED = "No mailbox selected"
READ_ONLY = "Mailbox is read-only"
QUOTA_EXCEEDED = "Quota exceeded"
TOO_BIG = "Message too large"
UNKNOWN_COMMAND = "Unknown command"
WRONG_STATE = "Command not allowed in this state"
LINE_TOO_LONG = "Command line too long"
IDLE_WAIT = "idling"
IDLE_TIMEOUT = "Auto-logout: idle too long"
AUTOLOGOUT = "Autologout; idle for too long"
SERVER_ERROR = "Internal server error; the command was not completed"
TOO_MANY_CONNECTIONS = "Too many connections"
SHUTDOWN = "Server shutting down"
