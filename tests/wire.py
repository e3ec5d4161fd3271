"""A line-oriented socket client for exact-byte transcripts of our line protocols."""

from __future__ import annotations

import socket


class LineSocket:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self, *, closed_ok: bool = False) -> bytes:
        """The next line with its CRLF; at end of stream, what is left (b"" when nothing) or an error."""
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                if not closed_ok:
                    raise ConnectionError("closed")
                line, self.buffer = self.buffer, b""
                return line
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line + b"\r\n"

    def close(self) -> None:
        self.sock.close()
