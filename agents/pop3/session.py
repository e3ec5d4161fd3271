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

from agents.clientaddr import plaintext_password_allowed
from agents.pop3 import replies
from agents.pop3.parser import ParseError, command_parse

if TYPE_CHECKING:
    from agents.pop3.maildrop import Maildrop, MaildropLock
    from store.models import Account

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 600  # RFC 1939 §3: an autologout timer of at least 10 minutes
MAX_BAD_COMMANDS = 20  # Dovecot's imap/pop3 limit of bad commands before disconnecting
MAX_AUTH_FAILURES = 3  # per connection; the shared throttle counts across connections
TLS_HANDSHAKE_TIMEOUT_SECONDS = 30


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


class _TooLong:
    pass


TOO_LONG = _TooLong()


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls_active: bool,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.tls_active = tls_active
        self.tls_context = tls_context  # None: STLS not offered
        peer = writer.get_extra_info("peername")
        self.client_ip: str | None = str(peer[0]) if peer else None
        self.state = State.AUTHORIZATION
        self.pending_user: str | None = None
        self.account: Account | None = None
        self.maildrop: Maildrop | None = None
        self.lock: MaildropLock | None = None
        self.bad_commands = 0
        self.auth_failures = 0
        self.closing = False

    # --- policy -----------------------------------------------------------------------------

    def plaintext_allowed(self) -> bool:
        """RFC 2595 §2: no cleartext password before TLS, unless loopback is allowed by setting."""
        return plaintext_password_allowed(tls_active=self.tls_active, client_ip=self.client_ip)

    def stls_offered(self) -> bool:
        return not self.tls_active and self.tls_context is not None and self.state is State.AUTHORIZATION

    # --- output -----------------------------------------------------------------------------

    async def reply(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def multiline(self, first: str, lines: list[str]) -> None:
        """A +OK line, the lines (dot-stuffed), and the terminating "." line."""
        body = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in lines)
        self.writer.write(f"{first}\r\n{body}.\r\n".encode())
        await self.writer.drain()

    async def write_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def error(self, line: str) -> None:
        """A -ERR for bad input; past MAX_BAD_COMMANDS the connection is closed."""
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            await self.reply(replies.TOO_MANY_ERRORS)
            self.closing = True
            return
        await self.reply(line)

    # --- input ------------------------------------------------------------------------------

    async def line_read(self) -> bytes | _TooLong | None:
        """The next line; TOO_LONG when it exceeded MAX_LINE_OCTETS (and was discarded); None at EOF."""
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as overrun:
            discard = overrun.consumed
        while True:
            await self.reader.readexactly(discard)
            try:
                await self.reader.readuntil(b"\n")
                return TOO_LONG
            except asyncio.LimitOverrunError as again:
                discard = again.consumed

    def input_pending(self) -> bool:
        # StreamReader keeps no public view of its buffer; an STLS followed by pipelined
        # plaintext must be refused (STARTTLS command injection, CVE-2011-0411 family).
        return bool(getattr(self.reader, "_buffer", b""))

    async def tls_start(self) -> None:
        assert self.tls_context is not None
        await self.writer.start_tls(self.tls_context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_SECONDS)
        self.tls_active = True
        self.pending_user = None

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.reply(replies.GREETING)
            while not self.closing:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
                        line = await self.line_read()
                except TimeoutError:
                    await self.reply(replies.IDLE_TIMEOUT)
                    break
                if line is None:
                    break
                if isinstance(line, _TooLong):
                    await self.error(replies.LINE_TOO_LONG)
                    continue
                await self.dispatch(line)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            log.exception("pop3: session from %s failed", self.client_ip)
        finally:
            await self.finish()

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
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), timeout=5)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
