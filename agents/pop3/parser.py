"""POP3 command lines and SASL PLAIN responses (RFC 1939 §3, RFC 2449 §4, RFC 5034 §4, RFC 4616).

Parsing never raises anything but ParseError, whose text is safe to send back in a -ERR.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

# RFC 2449 §4 raises the command line limit to 255 octets; SASL responses and long passwords
# need more, so a line may be up to Dovecot's 8 KiB before it is refused as too long.
MAX_LINE_OCTETS = 8192
MAX_KEYWORD_LENGTH = 4  # RFC 1939 §3: keywords are three or four characters
MAX_MESSAGE_NUMBER_DIGITS = 10  # larger numbers cannot name a message; refused without int()
MAX_TOP_LINES_DIGITS = 10


_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f]")  # control characters but TAB


class ParseError(Exception):
    """A malformed command or argument; str(error) says what is wrong."""


@dataclass(frozen=True)
class Command:
    keyword: str  # upper-cased
    argument: str  # everything after the first space, as sent (PASS keeps spaces)

    @property
    def arguments(self) -> list[str]:
        return self.argument.split()


def command_parse(line: bytes) -> Command:
    """Split one line (CRLF or LF already removed, or not) into keyword and argument."""
    stripped = line.rstrip(b"\r\n")
    if not stripped.strip():
        raise ParseError("empty command")
    if _CONTROL.search(stripped):
        raise ParseError("control characters in command")
    text = stripped.decode("utf-8", "surrogateescape")
    keyword, _, argument = text.lstrip(" ").partition(" ")
    if len(keyword) > MAX_KEYWORD_LENGTH or not keyword.isascii() or not keyword.isalpha():
        raise ParseError("unknown command")
    return Command(keyword=keyword.upper(), argument=argument)


def message_number_parse(text: str) -> int:
    """A message number (RFC 1939 §3): decimal, 1 or more; larger than any message is the caller's check."""
    if not text.isascii() or not text.isdigit():
        raise ParseError("message number must be a positive decimal number")
    if len(text.lstrip("0")) > MAX_MESSAGE_NUMBER_DIGITS:
        return 10**MAX_MESSAGE_NUMBER_DIGITS  # names no message; the caller answers "no such message"
    number = int(text)
    if number < 1:
        raise ParseError("message number must be a positive decimal number")
    return number


def line_count_parse(text: str) -> int:
    """TOP's line count: a non-negative decimal number."""
    if not text.isascii() or not text.isdigit():
        raise ParseError("line count must be a non-negative decimal number")
    if len(text.lstrip("0")) > MAX_TOP_LINES_DIGITS:
        return 10**MAX_TOP_LINES_DIGITS
    return int(text)


def exact_arguments(command: Command, minimum: int, maximum: int) -> list[str]:
    arguments = command.arguments
    if not minimum <= len(arguments) <= maximum:
        if minimum == maximum:
            raise ParseError(f"{command.keyword} takes {minimum} argument{'s' if minimum != 1 else ''}")
        raise ParseError(f"{command.keyword} takes {minimum} to {maximum} arguments")
    return arguments


def sasl_plain_decode(response: str) -> tuple[str, str, str]:
    """Decode a PLAIN response (RFC 4616 §2) to (authzid, authcid, password)."""
    try:
        decoded = base64.b64decode(response.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("invalid base64") from None
    parts = decoded.split(b"\0")
    if len(parts) != 3:
        raise ParseError("PLAIN response needs authzid, authcid and password")
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise ParseError("PLAIN response is not UTF-8") from None
    if not authcid or not password:
        raise ParseError("PLAIN response needs a user name and a password")
    return authzid, authcid, password
