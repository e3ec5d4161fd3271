"""The one command table: name -> handler and the states it is allowed in (RFC 3501 §3, §6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.imap.protocol.parser import Args

if TYPE_CHECKING:
    from agents.imap.session import Session

NOT_AUTHENTICATED = "not-authenticated"
AUTHENTICATED = "authenticated"
SELECTED = "selected"
LOGOUT = "logout"

ANY = frozenset({NOT_AUTHENTICATED, AUTHENTICATED, SELECTED})
AUTH = frozenset({AUTHENTICATED, SELECTED})
NOAUTH = frozenset({NOT_AUTHENTICATED})
SEL = frozenset({SELECTED})


@dataclass
class Request:
    tag: str
    name: str
    args: Args

    @property
    def uid(self) -> bool:
        return self.name.startswith("UID ")


Handler = Callable[["Session", Request], Awaitable[str | None]]


@dataclass(frozen=True)
class Spec:
    name: str
    handler: Handler
    states: frozenset[str]


COMMANDS: dict[str, Spec] = {}


def command(*names: str, states: frozenset[str]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Spec(name, handler, states)
        return handler

    return register


# A handler that has already sent its tagged reply (STARTTLS, COMPRESS, IDLE) returns this.
REPLIED = "\x00replied"
