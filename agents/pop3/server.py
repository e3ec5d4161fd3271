"""POP3 listeners: YUBIN_PORT_POP3 (STLS, RFC 2595) and YUBIN_PORT_POP3S (implicit TLS, RFC 8314)."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from agents.linestream import TLS_HANDSHAKE_TIMEOUT_SECONDS
from agents.pop3.maildrop import maildrop_locks_release_all
from agents.pop3.session import ConnectionGate, Session
from agents.runner import Listener
from agents.storecalls import store_call
from agents.tls import server_context

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000  # per process, like Dovecot's service pop3-login process_limit * client_limit
MAX_CONNECTIONS_PER_IP = 50  # Dovecot's mail_max_userip_connections is 10 per user and address


class Pop3Server:
    """An asyncio server that also gives back its sessions' maildrop locks when it closes."""

    def __init__(self, server: asyncio.base_events.Server) -> None:
        self.server = server

    def close(self) -> None:
        self.server.close()

    async def wait_closed(self) -> None:
        try:
            await asyncio.wait_for(self.server.wait_closed(), timeout=2)
        except TimeoutError:
            pass  # sessions still open: the process is stopping anyway
        await store_call(maildrop_locks_release_all)


class ConnectionLimiter(ConnectionGate):
    def __init__(self) -> None:
        self.total = 0
        self.per_ip: dict[str, int] = {}

    def enter(self, client_ip: str) -> bool:
        if self.total >= MAX_CONNECTIONS or self.per_ip.get(client_ip, 0) >= MAX_CONNECTIONS_PER_IP:
            return False
        self.total += 1
        self.per_ip[client_ip] = self.per_ip.get(client_ip, 0) + 1
        return True

    def leave(self, client_ip: str) -> None:
        self.total -= 1
        left = self.per_ip.get(client_ip, 1) - 1
        if left:
            self.per_ip[client_ip] = left
        else:
            self.per_ip.pop(client_ip, None)


async def pop3_servers_start(*, host: str, port: int, tls_port: int) -> list[Listener]:
    """Bind the STLS port and the implicit-TLS port (either may be 0 to skip it)."""
    context = server_context()
    limiter = ConnectionLimiter()
    loop = asyncio.get_running_loop()
    listeners: list[Listener] = []
    if port:
        plain = await loop.create_server(
            lambda: Session(tls_active=False, tls_context=context, gate=limiter), host, port
        )
        listeners.append(Listener("pop3", host, port, Pop3Server(plain)))
    if tls_port:
        secure = await loop.create_server(
            lambda: Session(tls_active=True, tls_context=None, gate=limiter),
            host,
            tls_port,
            ssl=context,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_SECONDS,
        )
        listeners.append(Listener("pop3s", host, tls_port, Pop3Server(secure)))
    return listeners


async def listeners_start(*, host: str) -> list[Listener]:
    return await pop3_servers_start(host=host, port=settings.YUBIN_PORT_POP3, tls_port=settings.YUBIN_PORT_POP3S)
