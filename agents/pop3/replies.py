"""Every POP3 reply line, named once (RFC 1939 §3, response codes RFC 2449 §8 and RFC 3206).

Handlers and tests use these names; nothing else in agents.pop3 types reply text.
"""

from __future__ import annotations

IMPLEMENTATION = "Yubin"

GREETING = "+OK Yubin POP3 ready."
CAPA_FOLLOWS = "+OK Capability list follows"
STLS_BEGIN = "+OK Begin TLS negotiation now."
USER_OK = "+OK Send your password."
LOGGED_IN = "+OK Logged in."
NOOP_OK = "+OK"
LIST_FOLLOWS = "+OK Scan list follows"
UIDL_FOLLOWS = "+OK Unique-ID list follows"
RETR_FOLLOWS = "+OK {size} octets"
TOP_FOLLOWS = "+OK Top of message follows"
DELE_OK = "+OK Marked to be deleted."
RSET_OK = "+OK {count} {messages} restored."
AUTH_MECHANISMS_FOLLOW = "+OK Mechanisms follow"
SASL_CONTINUE = "+ "
BYE_AUTHORIZATION = "+OK Logging out."
BYE_UPDATE = "+OK Logging out, {count} {messages} left."

UNKNOWN_COMMAND = "-ERR Unknown command."
WRONG_STATE = "-ERR Command not valid in this state."
LINE_TOO_LONG = "-ERR Command line too long."
SYNTAX = "-ERR Syntax error: {detail}"
TOO_MANY_ERRORS = "-ERR Too many bad commands, closing the connection."
TOO_MANY_CONNECTIONS = "-ERR [SYS/TEMP] Too many connections, try again later."
IDLE_TIMEOUT = "-ERR Disconnected for inactivity."
NO_SUCH_MESSAGE = "-ERR There's no message {number}."
MESSAGE_DELETED = "-ERR Message {number} is marked as deleted."
ALREADY_TLS = "-ERR TLS is already active."
TLS_UNAVAILABLE = "-ERR TLS is not available."
TLS_PIPELINED = "-ERR Command pipelined after STLS."
USER_FIRST = "-ERR Send USER first."
PLAINTEXT_DISALLOWED = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
AUTH_FAILED = "-ERR [AUTH] Authentication failed."
AUTH_THROTTLED = "-ERR [SYS/TEMP] Too many authentication failures, try again later."
AUTH_CANCELLED = "-ERR Authentication cancelled."
AUTH_BAD_RESPONSE = "-ERR Invalid SASL response."
AUTH_UNSUPPORTED = "-ERR Unsupported authentication mechanism."
AUTH_UNAVAILABLE = "-ERR [SYS/TEMP] Authentication is temporarily unavailable, try again later."
INTERNAL_ERROR = "-ERR [SYS/TEMP] Internal server error, closing the connection."
IN_USE = "-ERR [IN-USE] Mailbox is locked by another POP3 session."
MAILDROP_FAILED = "-ERR [SYS/TEMP] Mailbox cannot be opened, try again later."
MESSAGE_UNREADABLE = "-ERR [SYS/TEMP] Message {number} cannot be read right now."
UPDATE_FAILED = "-ERR [SYS/TEMP] Deleted messages could not be removed; they remain on the server."


def stat_reply(count: int, size: int) -> str:
    return f"+OK {count} {size}"


def scan_line(number: int, size: int) -> str:
    return f"{number} {size}"


def uid_line(number: int, unique_id: str) -> str:
    return f"{number} {unique_id}"


def messages(count: int) -> str:
    return "message" if count == 1 else "messages"
