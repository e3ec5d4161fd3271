"""One POP3 connection: line splitting, the state machine, replies, TLS upgrade (RFC 1939 §3-§6).

The session is an asyncio.BufferedProtocol (the transport reads into one buffer per session).
Every complete command line in the input is handled as soon as it arrives, in the same turn of
the event loop (PIPELINING, RFC 2449 §6.6: replies go out in order). Handlers are plain functions
that write their reply directly; one that has to wait (the store at login and QUIT, the TLS
handshake, a SASL continuation, a message too large to read at once) returns a coroutine
instead, and no further command is taken until it has finished. While the client does not read
its replies (the transport's buffer is above its high-water mark) no command is taken either,
and past MAX_INPUT_BUFFERED of unread input the socket is not read.

Bad input gets a -ERR and the session goes on, until the error budget is spent. The store is only
touched at login (snapshot) and at QUIT (UPDATE); a dropped connection changes nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from agents.clientaddr import plaintext_password_allowed
from agents.linestream import TLS_HANDSHAKE_TIMEOUT_SECONDS, LineTooLong
from agents.pop3 import replies
from agents.pop3.parser import MAX_LINE_OCTETS, ParseError, command_parse

if TYPE_CHECKING:
    from agents.pop3.maildrop import Maildrop, MaildropLock
    from store.models import Account

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 600  # RFC 1939 §3: an autologout timer of at least 10 minutes
MAX_BAD_COMMANDS = 20  # Dovecot's imap/pop3 limit of bad commands before disconnecting
MAX_AUTH_FAILURES = 3  # per connection; the shared throttle counts across connections
LINE_LIMIT = MAX_LINE_OCTETS + 2  # octets before the LF; one more for CR and LF each
MAX_INPUT_BUFFERED = 64 * 1024  # unread pipelined input before the socket is no longer read
RECEIVE_BUFFER = 16 * 1024
MAX_IOVECS = 512  # parts per writev (Linux allows 1024)

_TOO_LONG = b""  # marks an overlong line (a real line always ends in LF, so never empty)
_background: set[asyncio.Task[None]] = set()  # session endings still releasing their lock


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


class ConnectionGate:
    """What the server gives each session: a place to enter and leave (connection limits)."""

    def enter(self, client_ip: str) -> bool:  # pragma: no cover - the server's limiter overrides
        return True

    def leave(self, client_ip: str) -> None:  # pragma: no cover
        return None


# A handler answers directly and returns None, or returns a coroutine that finishes the command.
Handler = Callable[["Session", Any], Awaitable[None] | None]


class Session(asyncio.BufferedProtocol):
    def __init__(
        self,
        *,
        tls_active: bool,
        tls_context: ssl.SSLContext | None,
        gate: ConnectionGate,
    ) -> None:
        self.tls_active = tls_active
        self.tls_context = tls_context  # None: no upgrade offered on this connection
        self.gate = gate
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.client_ip: str | None = None
        self.closing = False
        self.state = State.AUTHORIZATION
        self.pending_user: str | None = None
        self.account: Account | None = None
        self.maildrop: Maildrop | None = None
        self.lock: MaildropLock | None = None
        # (message number, its RETR parts) laid out ahead, while the client reads the previous one
        self.prefetched: tuple[int, list[bytes | memoryview]] | None = None
        self.last_activity = self.loop.time()
        self.bad_commands = 0
        self.auth_failures = 0
        self._buffer = bytearray()  # input not yet handled
        self._receive = memoryview(bytearray(RECEIVE_BUFFER))  # the transport reads into this
        self._discarding = False  # inside an overlong line, dropping input up to its LF
        self._eof = False
        self._lost = False
        self._entered = False
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._line_waiter: asyncio.Future[bytes | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._fd: int | None = None  # the plain TCP socket, for gathered writes

    # --- transport callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, though it is one).
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]) if peer else None
        if not self.gate.enter(self.client_ip or ""):
            transport.write((replies.TOO_MANY_CONNECTIONS + "\r\n").encode())
            self.closing = True
            transport.close()
            return
        self._entered = True
        if not self.tls_active:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (2, 10):  # AF_INET, AF_INET6: a plain TCP socket
                self._fd = sock.fileno()
        self.reply(replies.GREETING)
        self._idle_timer = self.loop.call_later(IDLE_TIMEOUT_SECONDS, self._idle_check)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._receive

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._receive[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self.closing:
            return
        if self._discarding:
            data = bytes(data)
            newline = data.find(b"\n")
            if newline < 0:
                return
            self._discarding = False
            self._buffer += b"\n"  # stands for the dropped line; _next_line reports it too long
            self._too_long_pending = True
            data = data[newline + 1 :]
        self._buffer += data
        self._pump()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._pump()
        # Keep the plain socket open for the replies still due; TLS closes on its own.
        return not self.tls_active and not self._lost

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self.closing = True
        self._fd = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("connection lost"))
        self._drain_waiters.clear()
        if self._line_waiter is not None and not self._line_waiter.done():
            self._line_waiter.set_result(None)
        if self._entered:
            self._entered = False
            self.gate.leave(self.client_ip or "")
        ending = self.loop.create_task(self._finish())
        _background.add(ending)
        ending.add_done_callback(_background.discard)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        self._pump()

    # --- input ------------------------------------------------------------------------------

    _too_long_pending = False

    def _next_line(self) -> bytes | None:
        """The next complete line (LF included), _TOO_LONG for an overlong one, None if none yet."""
        buffer = self._buffer
        newline = buffer.find(b"\n")
        if newline < 0:
            if len(buffer) > LINE_LIMIT:
                buffer.clear()  # the rest of this line is dropped as it arrives
                self._discarding = True
            return None
        line = bytes(buffer[: newline + 1])
        del buffer[: newline + 1]
        if self._too_long_pending and line == b"\n":
            self._too_long_pending = False
            return _TOO_LONG
        if newline > LINE_LIMIT:
            return _TOO_LONG
        return line

    def _pump(self) -> None:
        """Handle every complete command in the input, unless a command is still running or the
        client is not reading its replies."""
        while not self._lost:
            if self._line_waiter is not None:
                line = self._next_line()
                if line is None and not self._eof:
                    break
                waiter, self._line_waiter = self._line_waiter, None
                if not waiter.done():
                    waiter.set_result(line)
                continue
            if self._task is not None or self._write_paused:
                break
            if self.closing:
                self._close_transport()
                return
            line = self._next_line()
            if line is None:
                if self._eof:
                    self.closing = True
                    self._close_transport()
                    return
                break
            self.last_activity = self.loop.time()
            if line is _TOO_LONG:
                self.error(replies.LINE_TOO_LONG)
                continue
            self.dispatch(line)
        self._input_flow()

    def _input_flow(self) -> None:
        if self.transport is None or self._lost:
            return
        if len(self._buffer) > MAX_INPUT_BUFFERED:
            if not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
        elif self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def input_pending(self) -> bool:
        """Input after the current command (plaintext pipelined behind STLS must be refused:
        the STARTTLS command injection of CVE-2011-0411)."""
        return bool(self._buffer) or self._discarding

    async def line_read(self) -> bytes | None:
        """The next line for a running command (a SASL response); None at EOF. Raises LineTooLong."""
        if self._lost or (self._eof and b"\n" not in self._buffer):
            return None
        self._line_waiter = self.loop.create_future()
        waiter = self._line_waiter
        self._pump()
        line = await waiter
        self.last_activity = self.loop.time()
        if line is _TOO_LONG:
            raise LineTooLong()
        return line

    # --- commands ---------------------------------------------------------------------------

    def dispatch(self, line: bytes) -> None:
        from agents.pop3.commands import COMMANDS

        try:
            command = command_parse(line)
        except ParseError:
            self.error(replies.UNKNOWN_COMMAND)
            return
        entry = COMMANDS.get(command.keyword)
        if entry is None:
            self.error(replies.UNKNOWN_COMMAND)
            return
        if self.state not in entry.states:
            self.error(replies.WRONG_STATE)
            return
        try:
            pending = entry.handler(self, command)
        except ParseError as problem:
            self.error(replies.SYNTAX.format(detail=problem))
            return
        except Exception:
            self._failed(command.keyword)
            return
        if pending is not None:
            self._task = self.loop.create_task(self._complete(command.keyword, pending))

    async def _complete(self, keyword: str, pending: Awaitable[None]) -> None:
        try:
            await pending
        except ParseError as problem:
            self.error(replies.SYNTAX.format(detail=problem))
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            self.closing = True
        except Exception:
            self._failed(keyword)
        finally:
            self._task = None
            self.last_activity = self.loop.time()
        if self._lost:
            return
        if self.transport is not None and self.transport.is_closing():
            self.connection_lost(None)  # a failed TLS handshake closed it under the old protocol
            return
        self._pump()

    def _failed(self, keyword: str) -> None:
        # A half-sent multi-line answer cannot be taken back: say so and end the session.
        log.exception("pop3: %s failed for %s", keyword, self.client_ip)
        self.reply(replies.INTERNAL_ERROR)
        self.closing = True

    # --- output -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._lost:
            self.transport.write(data)

    def write_parts(self, parts: Sequence[bytes | memoryview]) -> None:
        """Write parts in order with as few copies as possible: straight from them to the socket
        in one writev when nothing is queued before them, the unsent rest queued on the transport."""
        transport = self.transport
        if transport is None or self._lost:
            return
        fd = self._fd
        if fd is None or len(parts) > MAX_IOVECS or transport.get_write_buffer_size() or transport.is_closing():
            transport.write(b"".join(parts))
            return
        try:
            sent = os.writev(fd, parts)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            transport.write(b"".join(parts))  # the transport notices the broken connection
            return
        for index, part in enumerate(parts):
            if sent < len(part):
                rest = [memoryview(part)[sent:], *parts[index + 1 :]]
                transport.write(b"".join(rest))
                return
            sent -= len(part)

    def reply(self, line: str) -> None:
        self.write(line.encode() + b"\r\n")

    def multiline(self, first: str, lines: list[str]) -> None:
        """A +OK line, the lines (dot-stuffed), and the terminating "." line."""
        body = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in lines)
        self.write(f"{first}\r\n{body}.\r\n".encode())

    def error(self, line: str) -> None:
        """A -ERR for bad input; past MAX_BAD_COMMANDS the connection is closed."""
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            self.reply(replies.TOO_MANY_ERRORS)
            self.closing = True
            return
        self.reply(line)

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written (for long answers)."""
        if self._lost:
            raise ConnectionResetError("connection lost")
        if not self._write_paused:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    async def send(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # after the replies already written

    # --- state ------------------------------------------------------------------------------

    def plaintext_allowed(self) -> bool:
        return plaintext_password_allowed(tls_active=self.tls_active, client_ip=self.client_ip)

    def stls_offered(self) -> bool:
        return not self.tls_active and self.tls_context is not None and self.state is State.AUTHORIZATION

    async def tls_start(self) -> None:
        assert self.tls_context is not None and self.transport is not None
        self._fd = None  # from now on only the TLS transport writes
        upgraded = await self.loop.start_tls(
            self.transport,
            self,
            self.tls_context,
            server_side=True,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_SECONDS,
        )
        if upgraded is None:
            raise ConnectionResetError("connection lost during the TLS handshake")
        self.transport = upgraded
        self.tls_active = True
        self.pending_user = None

    def _idle_check(self) -> None:
        """One timer per session: after IDLE_TIMEOUT_SECONDS without a command (and none running),
        say why and close."""
        if self._lost:
            return
        remaining = self.last_activity + IDLE_TIMEOUT_SECONDS - self.loop.time()
        if self._task is not None and self._line_waiter is None:  # working, not waiting for the client
            remaining = max(remaining, 1.0)
        if remaining > 0:
            self._idle_timer = self.loop.call_later(remaining, self._idle_check)
            return
        self.closing = True
        self.reply(replies.IDLE_TIMEOUT)
        self._close_transport()

    async def lock_release(self) -> None:
        if self.lock is not None:
            lock, self.lock = self.lock, None
            await lock.release()

    async def _finish(self) -> None:
        """After the connection is gone: let a running command end, then free the maildrop."""
        task = self._task
        if task is not None:
            await asyncio.wait([task])  # the task reports its own failures
        try:
            await self.lock_release()
        except Exception:
            log.exception("pop3: lock release failed for %s", self.client_ip)
