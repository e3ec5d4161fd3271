"""Typed command errors, caught once by the session: No -> tagged NO, Bad -> tagged BAD, Bye -> close.

A response code (RFC 3501 §7.1, RFC 5530) travels with the error: No("TRYCREATE", text).
"""

from __future__ import annotations


class ImapError(Exception):
    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code

    def line(self, tag: str, status: str) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        return f"{tag} {status} {code}{self.text}\r\n".encode("utf-8", "surrogateescape")


class No(ImapError):
    """The command was understood but failed."""


class Bad(ImapError):
    """Protocol error: bad syntax, unknown command, wrong state."""


class Bye(ImapError):
    """The session ends after an untagged BYE."""
