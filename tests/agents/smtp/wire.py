"""A raw-socket SMTP client for tests where exact bytes on the wire matter."""

from __future__ import annotations

import socket
import ssl
import time


class Wire:
    def __init__(self, host: str, port: int, timeout: float = 10) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        """One complete (possibly multi-line) reply, lines joined with '\\n'."""
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed: " + repr(self.buffer))
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def command(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock)

    def closed(self, wait: float = 2.0) -> bool:
        deadline = time.monotonic() + wait
        self.sock.settimeout(wait)
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(1024):
                    return True
        except (ConnectionError, OSError):
            return True
        return False

    def close(self) -> None:
        self.sock.close()
