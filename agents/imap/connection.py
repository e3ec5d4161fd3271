"""Buffered line/literal I/O over an asyncio stream, with STARTTLS and COMPRESS=DEFLATE (RFC 4978).

The session reads through this layer so line-length limits hold before any parsing, TLS can be
started with an empty buffer (no STARTTLS command injection, RFC 3501 §6.2.1), and compression
wraps both directions once negotiated.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib

READ_CHUNK = 65536


class LineTooLong(Exception):
    """A line exceeded the limit; the rest of it has been discarded."""


class Closed(Exception):
    """The peer closed the connection."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.output: list[bytes] = []
        self.output_size = 0
        self.inflater: zlib._Decompress | None = None
        self.deflater: zlib._Compress | None = None
        self.tls = writer.get_extra_info("sslcontext") is not None
        self.socket = writer.get_extra_info("socket")
        self.quickack = hasattr(socket, "TCP_QUICKACK") and self.socket is not None

    @property
    def peer_ip(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return str(peer[0]) if peer else ""

    async def _fill(self) -> None:
        chunk = await self.reader.read(READ_CHUNK)
        if not chunk:
            raise Closed
        if self.quickack and not chunk.endswith(b"\n"):
            self._ack_now()
        if self.inflater is not None:
            chunk = self.inflater.decompress(chunk)
        self.buffer += chunk

    def _ack_now(self) -> None:
        """Acknowledge a partial line at once. Clients that write a command and its CRLF
        separately (imapclient does) would otherwise have the CRLF held by Nagle's algorithm
        until Linux's delayed ACK fires, about 40 ms later; quick-ack mode lapses by itself, so
        it is asked for after each partial read."""
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            self.quickack = False

    async def readline(self, limit: int) -> bytes:
        """One line with its LF; raises LineTooLong (after skipping to the LF) beyond limit bytes."""
        searched = 0
        while True:
            newline = self.buffer.find(b"\n", searched)
            if newline >= 0:
                if newline + 1 > limit:
                    del self.buffer[: newline + 1]
                    raise LineTooLong
                line = bytes(self.buffer[: newline + 1])
                del self.buffer[: newline + 1]
                return line
            searched = len(self.buffer)
            if searched > limit:
                await self._discard_line()
                raise LineTooLong
            await self._fill()

    async def _discard_line(self) -> None:
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                del self.buffer[: newline + 1]
                return
            self.buffer.clear()
            await self._fill()

    async def readexactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def write(self, data: bytes) -> None:
        self.output.append(data)
        self.output_size += len(data)

    async def flush(self) -> None:
        if not self.output:
            return
        data = b"".join(self.output)
        self.output.clear()
        self.output_size = 0
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        writer = self.writer
        writer.write(data)
        transport = writer.transport
        if transport.get_write_buffer_size() or transport.is_closing():  # not all sent: wait (or fail)
            await writer.drain()

    async def flush_if_large(self, threshold: int = 262144) -> None:
        if self.output_size >= threshold:
            await self.flush()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.flush()
        self.buffer.clear()  # anything pipelined after STARTTLS is discarded (RFC 3501 §6.2.1)
        await self.writer.start_tls(context)
        self.tls = True

    def start_compression(self) -> None:
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        if self.buffer:  # bytes already read after the COMPRESS command were compressed
            pending = bytes(self.buffer)
            self.buffer = bytearray(self.inflater.decompress(pending))

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: S110 - the socket may already be gone
            pass
