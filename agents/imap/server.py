"""IMAP listeners: YUBIN_PORT_IMAP (plain + STARTTLS, RFC 3501 §6.2.1) and YUBIN_PORT_IMAPS (RFC 8314).

Connection limits per client address and per account are enforced here, before any command.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections import Counter

from django.conf import settings

import agents.imap.commands  # noqa: F401 - registers every command
from agents.imap import limits
from agents.imap.connection import Connection
from agents.imap.protocol import response
from agents.imap.session import DatabasePool, Session
from agents.runner import Listener
from agents.tls import server_context

log = logging.getLogger(__name__)

DB_THREADS = 8


class ImapServer:
    """State shared by the sessions of one server: DB threads, connection counts, TLS context."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, allow_plaintext_loopback: bool | None = None):
        self.db = DatabasePool(DB_THREADS)
        self.tls_context = tls_context
        self.allow_plaintext_loopback = (
            settings.YUBIN_ALLOW_PLAINTEXT_LOOPBACK if allow_plaintext_loopback is None else allow_plaintext_loopback
        )
        self.per_ip: Counter[str] = Counter()
        self.per_account: Counter[int] = Counter()
        self.sessions: set[Session] = set()
        self.servers: list[asyncio.AbstractServer] = []

    def context(self) -> ssl.SSLContext:
        if self.tls_context is None:
            self.tls_context = server_context()
        return self.tls_context

    def plaintext_allowed(self, peer_ip: str) -> bool:
        if not self.allow_plaintext_loopback:
            return False
        try:
            return ipaddress.ip_address(peer_ip).is_loopback
        except ValueError:
            return False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        ip = conn.peer_ip
        if self.per_ip[ip] >= limits.max_connections_per_ip():
            writer.write(f"* BYE {response.TOO_MANY_CONNECTIONS}\r\n".encode())
            writer.close()
            return
        self.per_ip[ip] += 1
        session = Session(conn, self)
        self.sessions.add(session)
        try:
            await session.run()
        except asyncio.CancelledError:  # server shutdown
            session.close()
        except Exception:
            log.exception("IMAP session crashed")
            session.close()

    def account_connection_add(self, session: Session, account_id: int) -> bool:
        if self.per_account[account_id] >= limits.max_connections_per_account():
            return False
        self.per_account[account_id] += 1
        return True

    def session_closed(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        ip = session.conn.peer_ip
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]
        if session.account_id is not None:
            self.per_account[session.account_id] -= 1
            if self.per_account[session.account_id] <= 0:
                del self.per_account[session.account_id]

    async def listen(self, host: str, port: int, *, implicit_tls: bool) -> asyncio.AbstractServer:
        server = await asyncio.start_server(
            self.handle, host, port, ssl=self.context() if implicit_tls else None, limit=limits.MAX_LINE_LENGTH
        )
        self.servers.append(server)
        return server

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for session in list(self.sessions):
            session.conn.close()
        for server in self.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 5)
            except (TimeoutError, Exception):
                log.debug("IMAP listener did not close in time")
        await asyncio.get_running_loop().run_in_executor(None, self.db.shutdown)


async def listeners_start(*, host: str) -> list[Listener]:
    """Bind YUBIN_PORT_IMAP and YUBIN_PORT_IMAPS (a port of 0 turns that listener off)."""
    server = ImapServer()
    listeners: list[Listener] = []
    if settings.YUBIN_PORT_IMAP:
        await server.listen(host, settings.YUBIN_PORT_IMAP, implicit_tls=False)
        listeners.append(Listener("imap", host, settings.YUBIN_PORT_IMAP, server))
    if settings.YUBIN_PORT_IMAPS:
        await server.listen(host, settings.YUBIN_PORT_IMAPS, implicit_tls=True)
        listeners.append(Listener("imaps", host, settings.YUBIN_PORT_IMAPS, _Closer(server)))
    return listeners


class _Closer:
    """The second listener shares the server; closing it twice is harmless."""

    def __init__(self, server: ImapServer) -> None:
        self.server = server

    def close(self) -> None:
        for listener in self.server.servers:
            listener.close()
