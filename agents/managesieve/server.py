"""ManageSieve listener on YUBIN_PORT_SIEVE (RFC 5804 §1.8: port 4190, STARTTLS)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

from django.conf import settings

from agents.managesieve.parser import MAX_LINE_OCTETS
from agents.managesieve.session import Session
from agents.runner import Listener
from agents.tls import server_context

MAX_CONNECTIONS = 500  # per process


def connection_handler(
    tls_context: ssl.SSLContext,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    active = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        if active >= MAX_CONNECTIONS:
            writer.write(b'BYE (TRYLATER) "Too many connections."\r\n')
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()
            return
        active += 1
        try:
            await Session(reader, writer, tls_active=False, tls_context=tls_context).run()
        except asyncio.CancelledError:
            pass  # the listener is shutting down
        finally:
            active -= 1

    return handle


async def managesieve_server_start(*, host: str, port: int) -> list[Listener]:
    if not port:
        return []
    server = await asyncio.start_server(connection_handler(server_context()), host, port, limit=MAX_LINE_OCTETS + 2)
    return [Listener("managesieve", host, port, server)]


async def listeners_start(*, host: str) -> list[Listener]:
    return await managesieve_server_start(host=host, port=settings.YUBIN_PORT_SIEVE)
