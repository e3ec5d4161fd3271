"""Every SMTP reply the server sends, named once (RFC 5321 §4.2, enhanced codes RFC 3463).

Handlers and the protocol send these constants (some are templates filled with `format`);
tests compare against the same names, so a reply's wording lives in exactly one place.
"""

from __future__ import annotations

# Greeting, closing, generic success
GREETING = "220 {hostname} ESMTP Yubin"
CLOSING = "221 2.0.0 {hostname} closing connection"
OK = "250 2.0.0 OK"
OK_SENDER = "250 2.1.0 Sender OK"
OK_RECIPIENT = "250 2.1.5 Recipient OK"
OK_RESET = "250 2.0.0 Reset"
OK_QUEUED = "250 2.0.0 OK: message accepted {message_id}"
HELO_REPLY = "250 {hostname}"
VRFY_REPLY = "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
START_DATA = "354 End data with <CR><LF>.<CR><LF>"
READY_TLS = "220 2.0.0 Ready to start TLS"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_CONTINUE = "334 {challenge}"
HELP = "214 2.0.0 See RFC 5321"

# Temporary failures
TOO_MANY_CONNECTIONS = "421 4.7.0 {hostname} too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 {hostname} service shutting down"
TIMEOUT = "421 4.4.2 {hostname} timeout exceeded"
TOO_MANY_ERRORS = "421 4.7.0 {hostname} too many errors"
TOO_MANY_COMMANDS = "421 4.7.0 {hostname} too many commands"
LOCAL_ERROR = "451 4.3.0 Local error in processing, try again later"
DNS_TEMPFAIL = "451 4.4.3 Temporary DNS failure, try again later"
QUOTA_TEMPORARY = "452 4.2.2 Mailbox full"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TLS_UNAVAILABLE = "454 4.7.0 TLS not available"
AUTH_THROTTLED = "454 4.7.0 Too many authentication failures, try again later"
AUTH_TEMPFAIL = "454 4.7.0 Temporary authentication failure"

# Permanent failures: syntax and sequence
SYNTAX_ERROR = "500 5.5.2 Syntax error, command unrecognized"
LINE_TOO_LONG = "500 5.5.6 Line too long"
BARE_LINEFEED_COMMAND = "500 5.5.2 Command line must end with <CR><LF>"
EIGHT_BIT_COMMAND = "500 5.5.2 8-bit data in command line requires SMTPUTF8"
ARGUMENT_SYNTAX = "501 5.5.4 Syntax: {usage}"
ADDRESS_SYNTAX = "501 5.1.3 Bad address syntax"
SENDER_SYNTAX = "501 5.1.7 Bad sender address syntax"
NOT_IMPLEMENTED = "502 5.5.1 Command not implemented"
EXPN_DISABLED = "502 5.5.1 EXPN not available"
NEED_HELO = "503 5.5.1 Send EHLO/HELO first"
NEED_MAIL = "503 5.5.1 Need MAIL command first"
NEED_RCPT = "503 5.5.1 Need RCPT command first"
NESTED_MAIL = "503 5.5.1 Sender already given"
ALREADY_AUTHENTICATED = "503 5.5.1 Already authenticated"
AUTH_NOT_ON_MX = "503 5.5.1 AUTH not available on this port, use submission"
AUTH_MECHANISM_UNKNOWN = "504 5.5.4 Unrecognized authentication mechanism"
PARAMETER_UNKNOWN = "555 5.5.4 Unsupported parameter {parameter}"
PARAMETER_SYNTAX = "501 5.5.4 Bad {parameter} parameter syntax"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
STARTTLS_REQUIRED = "530 5.7.0 Must issue a STARTTLS command first"
AUTH_CANCELLED = "501 5.0.0 Authentication cancelled"
AUTH_BAD_ENCODING = "501 5.5.2 Cannot decode base64 response"
AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"
ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"

# Permanent failures: policy and content
NO_SUCH_USER = "550 5.1.1 Recipient address rejected: no such user here"
RELAY_DENIED = "554 5.7.1 Relay access denied"
SENDER_NOT_OWNED = "553 5.7.1 Sender address not owned by the authenticated user"
NULL_SENDER_SUBMISSION = "553 5.7.1 Null sender not allowed on submission"
DMARC_REJECT = "550 5.7.1 Rejected by the sender domain's DMARC policy"
QUOTA_PERMANENT = "552 5.2.2 Mailbox full"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed limit of {limit} bytes"
BARE_LINEFEED_DATA = "550 5.5.2 Message refused: bare <LF> or <CR> in message data (see RFC 5321 §2.3.8)"
SMTPUTF8_REQUIRED = "553 5.6.7 Non-ASCII address requires SMTPUTF8"
NOT_ACCEPTED = "554 5.5.0 No valid recipients"
TLS_HANDSHAKE_REQUIRED = "554 5.7.0 Command refused due to lack of security"

# Auth challenges (RFC 4954 §4; LOGIN as deployed by Outlook/Thunderbird)
LOGIN_USERNAME = "VXNlcm5hbWU6"  # base64 "Username:"
LOGIN_PASSWORD = "UGFzc3dvcmQ6"  # noqa: S105  # base64 "Password:", a prompt
