"""One POP3 connection: line reading, the state machine, replies, TLS upgrade (RFC 1939 §3-§6).

The session reads one command line at a time (PIPELINING, RFC 2449 §6.6, comes for free: replies
go out in order), looks the keyword up in agents.pop3.commands.COMMANDS, checks the state and
runs the handler. Bad input gets a -ERR and the session goes on, until the error budget is spent.
The store is only touched at login (snapshot) and at QUIT (UPDATE); a dropped connection changes
nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
from typing import TYPE_CHECKING

from agents.linestream import LineConnection, LineTooLong
from agents.pop3 import replies
from agents.pop3.parser import ParseError, command_parse

if TYPE_CHECKING:
    from agents.pop3.maildrop import Maildrop, MaildropLock
    from store.models import Account

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 600  # RFC 1939 §3: an autologout timer of at least 10 minutes
MAX_BAD_COMMANDS = 20  # Dovecot's imap/pop3 limit of bad commands before disconnecting
MAX_AUTH_FAILURES = 3  # per connection; the shared throttle counts across connections


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


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
        self.state = State.AUTHORIZATION
        self.pending_user: str | None = None
        self.account: Account | None = None
        self.maildrop: Maildrop | None = None
        self.lock: MaildropLock | None = None
        self.prefetched: tuple[int, bytes] | None = None  # (message number, RETR body) made ahead
        self.busy = False
        self.last_activity = asyncio.get_running_loop().time()
        self.bad_commands = 0
        self.auth_failures = 0

    def stls_offered(self) -> bool:
        return not self.tls_active and self.tls_context is not None and self.state is State.AUTHORIZATION

    # --- output -----------------------------------------------------------------------------

    async def reply(self, line: str) -> None:
        await self.send(line.encode() + b"\r\n")

    async def multiline(self, first: str, lines: list[str]) -> None:
        """A +OK line, the lines (dot-stuffed), and the terminating "." line."""
        body = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in lines)
        await self.send(f"{first}\r\n{body}.\r\n".encode())

    async def error(self, line: str) -> None:
        """A -ERR for bad input; past MAX_BAD_COMMANDS the connection is closed."""
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            await self.reply(replies.TOO_MANY_ERRORS)
            self.closing = True
            return
        await self.reply(line)

    async def tls_start(self) -> None:
        await super().tls_start()
        self.pending_user = None

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        watchdog = asyncio.create_task(self._idle_watch())
        try:
            await self.reply(replies.GREETING)
            while not self.closing:
                try:
                    line = await self.line_read()
                except LineTooLong:
                    await self.error(replies.LINE_TOO_LONG)
                    continue
                if line is None:
                    break
                self.busy = True
                try:
                    await self.dispatch(line)
                finally:
                    self.busy = False
                    self.last_activity = asyncio.get_running_loop().time()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            log.exception("pop3: session from %s failed", self.client_ip)
        finally:
            watchdog.cancel()
            await self.finish()

    async def _idle_watch(self) -> None:
        """One timer per session instead of one per command: after IDLE_TIMEOUT_SECONDS without a
        command (and none running), say why and close, which ends the read loop."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = self.last_activity + IDLE_TIMEOUT_SECONDS - loop.time()
            if remaining <= 0 and not self.busy:
                self.closing = True
                try:
                    await self.reply(replies.IDLE_TIMEOUT)
                except (ConnectionError, ssl.SSLError, OSError):
                    pass
                self.writer.close()
                return
            await asyncio.sleep(max(remaining, 1.0 if self.busy else 0.0))

    async def dispatch(self, line: bytes) -> None:
        from agents.pop3.commands import COMMANDS

        try:
            command = command_parse(line)
        except ParseError:
            await self.error(replies.UNKNOWN_COMMAND)
            return
        entry = COMMANDS.get(command.keyword)
        if entry is None:
            await self.error(replies.UNKNOWN_COMMAND)
            return
        if self.state not in entry.states:
            await self.error(replies.WRONG_STATE)
            return
        try:
            await entry.handler(self, command)
        except ParseError as problem:
            await self.error(replies.SYNTAX.format(detail=problem))
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            raise
        except Exception:
            # A half-sent multi-line answer cannot be taken back: say so and end the session.
            log.exception("pop3: %s failed for %s", command.keyword, self.client_ip)
            await self.reply(replies.INTERNAL_ERROR)
            self.closing = True

    async def lock_release(self) -> None:
        if self.lock is not None:
            lock, self.lock = self.lock, None
            await lock.release()

    async def finish(self) -> None:
        await self.lock_release()
        await self.close()
