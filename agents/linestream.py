"""A line-oriented client connection for the text protocols' servers (POP3, ManageSieve).

Bounded line reading (an overlong line is discarded whole and reported, never buffered without
limit), the in-place TLS upgrade of STLS/STARTTLS with its injection guard, and a clean close.
"""

from __future__ import annotations

import asyncio
import ssl

from agents.clientaddr import plaintext_password_allowed

TLS_HANDSHAKE_TIMEOUT_SECONDS = 30


class LineTooLong(Exception):
    """The line exceeded the reader's limit; it has been read and discarded up to its LF."""


class LineConnection:
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
        self.tls_context = tls_context  # None: no upgrade offered on this connection
        peer = writer.get_extra_info("peername")
        self.client_ip: str | None = str(peer[0]) if peer else None
        self.closing = False

    def plaintext_allowed(self) -> bool:
        return plaintext_password_allowed(tls_active=self.tls_active, client_ip=self.client_ip)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line_read(self) -> bytes | None:
        """The next line, line end included; None at EOF. Raises LineTooLong past the limit."""
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
            except asyncio.LimitOverrunError as again:
                discard = again.consumed
                continue
            raise LineTooLong()

    def input_pending(self) -> bool:
        # StreamReader keeps no public view of its buffer; plaintext pipelined behind a TLS
        # upgrade command must be refused (STARTTLS command injection, CVE-2011-0411 family).
        return bool(getattr(self.reader, "_buffer", b""))

    async def tls_start(self) -> None:
        assert self.tls_context is not None
        await self.writer.start_tls(self.tls_context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_SECONDS)
        self.tls_active = True

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), timeout=5)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
