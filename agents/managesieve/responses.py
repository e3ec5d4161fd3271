"""ManageSieve responses, named once (RFC 5804 §1.3 response codes, §4 syntax)."""

from __future__ import annotations

from agents.managesieve.parser import quote

IMPLEMENTATION = "Yubin"
VERSION = "1.0"

# Texts of OK / NO / BYE responses.
READY = "Yubin ManageSieve ready."
DONE = "Done."
LOGGED_IN = "Logged in."
LOGGED_OUT = "Logging out."
UNAUTHENTICATED = "Unauthenticated."
BEGIN_TLS = "Begin TLS negotiation now."
TLS_DONE = "TLS negotiation successful."
SCRIPT_STORED = "Script stored."
SCRIPT_VALID = "Script is valid."
SCRIPT_DELETED = "Script deleted."
SCRIPT_RENAMED = "Script renamed."
SCRIPT_ACTIVATED = "Script activated."
SCRIPTS_DEACTIVATED = "No script is active now."
SPACE_OK = "Putscript would succeed."
LISTED = "Listscripts completed."
GOT = "Getscript completed."

UNKNOWN_COMMAND = "Unknown command."
WRONG_STATE_AUTH = "Authenticate first."
WRONG_STATE_NOT_AUTH = "Already authenticated."
LINE_TOO_LONG = "Command line too long."
LITERAL_TOO_BIG = "Literal too big."
TOO_MANY_ERRORS = "Too many bad commands."
IDLE_TIMEOUT = "Disconnected for inactivity."
ALREADY_TLS = "TLS is already active."
TLS_UNAVAILABLE = "TLS is not available."
TLS_PIPELINED = "Command pipelined after STARTTLS."
AUTH_FAILED = "Authentication failed."
AUTH_THROTTLED = "Too many authentication failures, try again later."
AUTH_UNAVAILABLE = "Authentication is temporarily unavailable, try again later."
AUTH_CANCELLED = "Authentication cancelled."
AUTH_BAD_RESPONSE = "Invalid SASL response."
AUTH_UNSUPPORTED = "Unsupported authentication mechanism."
ENCRYPT_NEEDED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
NO_SUCH_SCRIPT = "There is no script by that name."
SCRIPT_EXISTS = "A script by that name already exists."
ACTIVE_SCRIPT = "The active script cannot be deleted."
TOO_BIG = "Script is too big."
TOO_MANY_SCRIPTS = "Too many scripts."
STORE_FAILED = "The script store is unavailable, try again later."
INTERNAL_ERROR = "Internal server error."


def response(status: str, text: str = "", code: str = "") -> bytes:
    """OK / NO / BYE [(code)] [string] CRLF."""
    parts = [status.encode()]
    if code:
        parts.append(f"({code})".encode())
    if text:
        parts.append(quote(text))
    return b" ".join(parts) + b"\r\n"


def capability_lines(*, sasl: list[str], starttls: bool, sieve_extensions: list[str], max_redirects: int) -> bytes:
    """The capability listing (RFC 5804 §1.7), without the final OK."""
    lines = [
        (b'"IMPLEMENTATION"', quote(IMPLEMENTATION)),
        (b'"SASL"', quote(" ".join(sasl))),
        (b'"SIEVE"', quote(" ".join(sieve_extensions))),
    ]
    if max_redirects:
        lines.append((b'"MAXREDIRECTS"', quote(str(max_redirects))))
    if starttls:
        lines.append((b'"STARTTLS"', b""))
    lines.append((b'"UNAUTHENTICATE"', b""))
    lines.append((b'"VERSION"', quote(VERSION)))
    return b"".join((name + (b" " + value if value else b"")) + b"\r\n" for name, value in lines)
