"""One ManageSieve connection: command reading with literals, states, responses (RFC 5804 §1-§2)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING

from agents.linestream import LineConnection, LineTooLong
from agents.managesieve import responses
from agents.managesieve.parser import (
    LITERAL_TAIL,
    MAX_LITERAL_OCTETS,
    ParseError,
    String,
    Token,
    line_tokens,
)

if TYPE_CHECKING:
    from store.models import Account

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 30 * 60  # Pigeonhole's managesieve idle timeout is 30 minutes
MAX_BAD_COMMANDS = 20
MAX_AUTH_FAILURES = 3


class LiteralTooBig(Exception):
    pass


class Session(LineConnection):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls_active: bool,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(reader, writer, tls_active=tls_active, tls_context=tls_context)
        self.account: Account | None = None
        self.bad_commands = 0
        self.auth_failures = 0

    def starttls_offered(self) -> bool:
        return not self.tls_active and self.tls_context is not None and self.account is None

    # --- output -----------------------------------------------------------------------------

    async def ok(self, text: str = "", code: str = "") -> None:
        await self.send(responses.response("OK", text, code))

    async def no(self, text: str, code: str = "") -> None:
        await self.send(responses.response("NO", text, code))

    async def bye(self, text: str, code: str = "") -> None:
        await self.send(responses.response("BYE", text, code))
        self.closing = True

    async def error(self, text: str, code: str = "") -> None:
        """NO for bad input; past MAX_BAD_COMMANDS the connection ends with BYE."""
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            await self.bye(responses.TOO_MANY_ERRORS)
            return
        await self.no(text, code)

    async def capabilities_send(self) -> None:
        from agents.managesieve.commands import capability_listing

        await self.send(capability_listing(self))

    # --- input ------------------------------------------------------------------------------

    async def command_read(self) -> list[Token] | None:
        """The tokens of one command, literals included; None at EOF.

        A malformed line still has its literals consumed before ParseError is raised, so the
        literal's bytes are never taken for commands.
        """
        tokens: list[Token] = []
        problem: ParseError | None = None
        while True:
            raw_line = await self.line_read()
            if raw_line is None:
                return None
            line = raw_line.rstrip(b"\r\n")
            try:
                part, literal_size = line_tokens(line)
            except ParseError as error:
                problem = problem or error
                tail = LITERAL_TAIL.search(line)
                part, literal_size = [], int(tail.group(1)) if tail else None
            tokens.extend(part)
            if literal_size is None:
                break
            if literal_size > MAX_LITERAL_OCTETS:
                raise LiteralTooBig()
            tokens.append(String(await self.reader.readexactly(literal_size)))
        if problem is not None:
            raise problem
        return tokens

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        from agents.managesieve.commands import dispatch

        try:
            await self.capabilities_send()
            await self.ok(responses.READY)
            while not self.closing:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
                        tokens = await self.command_read()
                except TimeoutError:
                    await self.bye(responses.IDLE_TIMEOUT)
                    break
                except LineTooLong:
                    await self.error(responses.LINE_TOO_LONG)
                    continue
                except LiteralTooBig:
                    await self.bye(responses.LITERAL_TOO_BIG)  # its bytes are on the way: hang up
                    break
                except ParseError as problem:
                    await self.error(f"Syntax error: {problem}")
                    continue
                if tokens is None:
                    break
                if not tokens:
                    await self.error(responses.UNKNOWN_COMMAND)
                    continue
                await dispatch(self, tokens)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            log.exception("managesieve: session from %s failed", self.client_ip)
        finally:
            await self.close()
