"""The relay's SMTP client (RFC 5321) with STARTTLS (RFC 3207), PIPELINING (RFC 2920), SIZE
(RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461) and AUTH (RFC 4954).

A small blocking client of our own: smtplib neither pipelines nor reports one reply per
recipient in one round trip. One `SmtpConnection` carries several transactions (RSET between
them); `ConnectionPool` keeps idle connections per host for a short window.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from agents.multiline import encode_message
from agents.tls import client_context

MAX_REPLY_LINE = 2048  # RFC 5321 §4.5.3.1.5 says 512; be lenient with long texts
MAX_REPLY_LINES = 100


class SmtpError(Exception):
    """A session-level failure: no reply, a broken connection, or a reply that ends the session."""

    def __init__(self, reply: str, *, permanent: bool = False) -> None:
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.code} " + " ".join(self.lines)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400


@dataclass
class Envelope:
    sender: str
    recipients: list[str]
    data: bytes
    smtputf8: bool = False
    body_8bit: bool = False
    dsn_ret: str = ""
    dsn_envid: str = ""
    dsn_notify: dict[str, str] = field(default_factory=dict)  # recipient -> NOTIFY value
    dsn_orcpt: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TlsPolicy:
    """How STARTTLS is used on one connection."""

    required: bool = False  # MTA-STS enforce, smarthost: no TLS means no delivery
    verify: bool = False  # certificate must chain to a trusted CA and match `server_name`
    server_name: str = ""
    implicit: bool = False  # TLS from the first byte (smarthost on port 465, RFC 8314)
    ca_file: str = ""
    starttls: bool = True  # False: the retry in plaintext after a failed opportunistic handshake


def dot_stuff(data: bytes) -> bytes:
    """CRLF line endings, a leading dot doubled (RFC 5321 §4.5.2), and the final CRLF . CRLF.

    Through agents.multiline's literal scans: the multi-line regular expressions for line ends
    and leading dots this took before were a tenth of a relay worker's CPU."""
    return encode_message(data) if data else b"\r\n.\r\n"


def xtext(value: str) -> str:
    """RFC 3461 §4 xtext: '+', '=' and characters outside 33..126 as +XX."""
    return "".join(f"+{ord(c):02X}" if c in "+=" or not 33 <= ord(c) <= 126 else c for c in value)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _source_for(destination: str, source: str) -> tuple[str, int] | None:
    """The local address to bind: only of the destination's family, never loopback towards the world."""
    if not source or source in ("0.0.0.0", "::"):  # noqa: S104 - "any" means do not bind
        return None
    try:
        source_ip = ipaddress.ip_address(source)
        destination_ip = ipaddress.ip_address(destination)
    except ValueError:
        return None
    if source_ip.version != destination_ip.version:
        return None
    if source_ip.is_loopback and not destination_ip.is_loopback:
        return None
    return (source, 0)


class SmtpConnection:
    """One SMTP session to one server address."""

    def __init__(self, sock: socket.socket, *, host: str, address: str, command_timeout: float) -> None:
        self.sock: socket.socket = sock
        self.host = host
        self.address = address
        self.command_timeout = command_timeout
        self.reader = sock.makefile("rb")
        self.extensions: dict[str, str] = {}
        self.tls = False
        self.tls_verified = False
        self.transactions = 0
        self.idle_since = time.monotonic()
        self.broken = False
        self.reused = False  # taken from the pool: it may have been closed by the server meanwhile
        self.replies_read = 0  # in the current transaction

    # -- wire --

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.broken = True
            reply = f"451 4.4.2 Lost connection with {self.host}[{self.address}] while sending: {exc}"
            raise SmtpError(reply) from None

    def read_reply(self) -> Reply:
        """One reply, multi-line replies joined (RFC 5321 §4.2.1)."""
        lines: list[str] = []
        while True:
            try:
                raw = self.reader.readline(MAX_REPLY_LINE + 1)
            except (OSError, ssl.SSLError) as exc:
                self.broken = True
                raise SmtpError(f"451 4.4.2 Lost connection with {self.host}[{self.address}]: {exc}") from None
            if not raw:
                self.broken = True
                raise SmtpError(f"451 4.4.2 Lost connection with {self.host}[{self.address}]")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()) or line[3:4] not in ("", " ", "-"):
                self.broken = True
                raise SmtpError(f"451 4.5.0 Malformed reply from {self.host}[{self.address}]: {line[:80]!r}")
            lines.append(line[4:])
            if line[3:4] != "-" or len(lines) >= MAX_REPLY_LINES:
                self.replies_read += 1
                return Reply(int(line[:3]), tuple(lines))

    def command(self, line: str) -> Reply:
        self._send(line.encode("utf-8") + b"\r\n")
        return self.read_reply()

    # -- session --

    @classmethod
    def open(
        cls,
        *,
        host: str,
        address: str,
        port: int,
        helo_name: str,
        source: str = "",
        tls: TlsPolicy | None = None,
        connect_timeout: float = 30,
        command_timeout: float = 300,
    ) -> SmtpConnection:
        """Connect, read the greeting, EHLO, STARTTLS when offered or required."""
        policy = tls or TlsPolicy()
        try:
            sock = socket.create_connection(
                (address, port), timeout=connect_timeout, source_address=_source_for(address, source)
            )
        except OSError as exc:
            raise SmtpError(f"451 4.4.1 Connect to {host}[{address}]:{port}: {exc.strerror or exc}") from None
        sock.settimeout(command_timeout)
        connection = cls(sock, host=host, address=address, command_timeout=command_timeout)
        try:
            if policy.implicit:
                connection._start_tls(policy)
            greeting = connection.read_reply()
            if greeting.code != 220:
                raise SmtpError(greeting.text, permanent=500 <= greeting.code < 600)
            connection._ehlo(helo_name)
            if "STARTTLS" in connection.extensions and not connection.tls and policy.starttls:
                reply = connection.command("STARTTLS")
                if reply.code == 220:
                    connection._start_tls(policy)
                    connection._ehlo(helo_name)
                elif policy.required:
                    raise SmtpError(f"451 4.7.5 STARTTLS refused by {host}: {reply.text}")
            if policy.required and not connection.tls:
                raise SmtpError(f"451 4.7.5 TLS is required for {host}, but it does not offer STARTTLS")
        except BaseException:
            connection.close()
            raise
        return connection

    def _start_tls(self, policy: TlsPolicy) -> None:
        context = client_context(verify=policy.verify)
        if policy.verify and policy.ca_file:
            context.load_verify_locations(cafile=policy.ca_file)
        try:
            wrapped = context.wrap_socket(self.sock, server_hostname=policy.server_name or self.host)
        except (ssl.SSLError, OSError) as exc:
            self.broken = True
            raise SmtpError(f"451 4.7.5 TLS handshake with {self.host}[{self.address}] failed: {exc}") from None
        self.sock = wrapped
        self.reader = wrapped.makefile("rb")
        self.tls = True
        self.tls_verified = policy.verify

    def _ehlo(self, helo_name: str) -> None:
        reply = self.command(f"EHLO {helo_name}")
        if reply.code in (500, 502):
            # RFC 5321 §3.2: fall back to HELO when EHLO is not understood.
            reply = self.command(f"HELO {helo_name}")
            if reply.code != 250:
                raise SmtpError(reply.text, permanent=500 <= reply.code < 600)
            self.extensions = {}
            return
        if reply.code != 250:
            raise SmtpError(reply.text, permanent=500 <= reply.code < 600)
        extensions: dict[str, str] = {}
        for line in reply.lines[1:]:
            keyword, _, parameters = line.partition(" ")
            extensions[keyword.upper()] = parameters
        self.extensions = extensions

    def login(self, user: str, password: str) -> None:
        """AUTH PLAIN (RFC 4616), or LOGIN when PLAIN is not offered."""
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        if "PLAIN" in mechanisms or not mechanisms:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            reply = self.command(f"AUTH PLAIN {token}")
        else:
            reply = self.command("AUTH LOGIN")
            if reply.code == 334:
                reply = self.command(base64.b64encode(user.encode()).decode())
            if reply.code == 334:
                reply = self.command(base64.b64encode(password.encode()).decode())
        if reply.code != 235:
            raise SmtpError(f"{reply.text} (authentication at {self.host})", permanent=500 <= reply.code < 600)

    @property
    def size_limit(self) -> int:
        value = self.extensions.get("SIZE", "").strip()
        return int(value) if value.isascii() and value.isdigit() else 0

    def reset(self) -> bool:
        """RSET before reusing the session; False when the server is gone."""
        try:
            return self.command("RSET").code == 250
        except SmtpError:
            return False

    def transaction(self, envelope: Envelope) -> dict[str, Reply]:
        """Send one message; return the final reply for each recipient.

        With PIPELINING, MAIL, every RCPT and DATA go out in one write (RFC 2920 §3.1).
        """
        self.transactions += 1
        self.replies_read = 0
        mail = f"MAIL FROM:<{envelope.sender}>"
        if self.size_limit or "SIZE" in self.extensions:
            mail += f" SIZE={len(envelope.data)}"
        if envelope.body_8bit and "8BITMIME" in self.extensions:
            mail += " BODY=8BITMIME"
        if envelope.smtputf8 and "SMTPUTF8" in self.extensions:
            mail += " SMTPUTF8"
        dsn = "DSN" in self.extensions
        if dsn and envelope.dsn_ret:
            mail += f" RET={envelope.dsn_ret}"
        if dsn and envelope.dsn_envid:
            mail += f" ENVID={xtext(envelope.dsn_envid)}"
        rcpts = []
        for recipient in envelope.recipients:
            line = f"RCPT TO:<{recipient}>"
            if dsn and envelope.dsn_notify.get(recipient):
                line += f" NOTIFY={envelope.dsn_notify[recipient]}"
            if dsn and envelope.dsn_orcpt.get(recipient):
                line += f" ORCPT={envelope.dsn_orcpt[recipient]}"
            rcpts.append(line)
        if "PIPELINING" in self.extensions:
            self._send(("\r\n".join([mail, *rcpts, "DATA"]) + "\r\n").encode("utf-8"))
            mail_reply = self.read_reply()
            rcpt_replies = [self.read_reply() for _ in rcpts]
            data_reply = self.read_reply()
        else:
            mail_reply = self.command(mail)
            if not mail_reply.positive:
                return dict.fromkeys(envelope.recipients, mail_reply)
            rcpt_replies = [self.command(line) for line in rcpts]
            if not any(r.positive for r in rcpt_replies):
                return dict(zip(envelope.recipients, rcpt_replies, strict=True))
            data_reply = self.command("DATA")
        if not mail_reply.positive:
            if data_reply.code == 354:
                self._send(b".\r\n")
                self.read_reply()
            return dict.fromkeys(envelope.recipients, mail_reply)
        accepted = [r for r, reply in zip(envelope.recipients, rcpt_replies, strict=True) if reply.positive]
        results = {r: reply for r, reply in zip(envelope.recipients, rcpt_replies, strict=True) if not reply.positive}
        if data_reply.code != 354:
            return results | dict.fromkeys(accepted, data_reply)
        if not accepted:
            # RFC 2920 §3.1: DATA was accepted although no recipient was; send an empty message.
            self._send(b".\r\n")
            self.read_reply()
            return results
        self._send(dot_stuff(envelope.data))
        final = self.read_reply()
        return results | dict.fromkeys(accepted, final)

    def quit(self) -> None:
        if not self.broken:
            try:
                self._send(b"QUIT\r\n")
                self.sock.settimeout(2)
                self.read_reply()
            except (SmtpError, OSError):
                pass
        self.close()

    def close(self) -> None:
        self.broken = True
        for closable in (self.reader, self.sock):
            try:
                closable.close()
            except OSError:
                pass


class ConnectionPool:
    """Idle sessions kept per (host, address, port, TLS policy) for `reuse_seconds` (Postfix's
    smtp_connection_cache_time_limit), so the next message to the same host skips connect,
    EHLO and TLS setup. Shared by the threads of a worker (Celery's threads pool): a session is
    handed to one thread at a time."""

    def __init__(self) -> None:
        self._idle: dict[tuple[object, ...], list[SmtpConnection]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[object, ...], reuse_seconds: float) -> SmtpConnection | None:
        """An idle session for `key`. A completed DATA already reset the session (RFC 5321
        §4.1.1.4), so no RSET round trip is spent; a session the server closed meanwhile fails
        on its first reply, and the caller retries once on a new connection."""
        self.expire(reuse_seconds)
        with self._lock:
            stack = self._idle.get(key)
            connection = stack.pop() if stack else None
        if connection is not None:
            connection.reused = True
        return connection

    def give(self, key: tuple[object, ...], connection: SmtpConnection, reuse_seconds: float) -> None:
        if connection.broken or reuse_seconds <= 0:
            connection.quit()
            return
        connection.idle_since = time.monotonic()
        with self._lock:
            self._idle.setdefault(key, []).append(connection)

    def expire(self, reuse_seconds: float) -> None:
        now = time.monotonic()
        stale: list[SmtpConnection] = []
        with self._lock:
            for key, stack in list(self._idle.items()):
                keep: list[SmtpConnection] = []
                for connection in stack:
                    (stale if now - connection.idle_since > reuse_seconds else keep).append(connection)
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
        for connection in stale:  # QUIT outside the lock: it waits for the server
            connection.quit()

    def close_all(self) -> None:
        self.expire(-1)
