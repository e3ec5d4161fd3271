"""IMAP connections of web sessions, opened once at login and reused across requests.

Each session's connection authenticates with AUTHENTICATE OAUTHBEARER (RFC 7628) using the
short-lived token issued at login, after STARTTLS (RFC 3501 §6.2.1); the password is never kept.
Requests of one session take turns on its connection (a lock); the live-update long poll has a
second connection of its own so IDLE never blocks a page. Connections unused for
POOL_IDLE_SECONDS are logged out by a reaper thread, well inside the server's autologout timer
(RFC 3501 §5.4: at least 30 minutes).
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

log = logging.getLogger(__name__)

POOL_IDLE_SECONDS = 600  # logout after 10 idle minutes; the next request reconnects with the token
CHECK_AFTER_SECONDS = 60  # a connection unused this long is NOOP-checked before use
COMMAND_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10

# Errors that mean the connection is gone: the pool drops it and the next request reconnects.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    imaplib.IMAP4.abort,
    OSError,
    socket.timeout,
    ssl.SSLError,
    EOFError,
)


class ImapUnavailable(Exception):
    """The IMAP server could not be reached or dropped the connection."""


class ImapAuthExpired(ImapUnavailable):
    """The server refused the session's token (expired or revoked): the user must log in again."""


@dataclass
class Connection:
    """One pool slot: an IMAP client (replaced when it is lost) and what it has selected."""

    address: str
    client: IMAPClient | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    selected: str | None = None
    selected_info: dict[bytes, Any] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    cache: dict[Any, Any] = field(default_factory=dict)  # per-connection caches (sorted UID lists)

    @property
    def imap(self) -> IMAPClient:
        assert self.client is not None  # set while the slot is held by acquire()
        return self.client

    def has(self, capability: str) -> bool:
        return self.imap.has_capability(capability)

    def select(self, folder: str, *, refresh: bool = True) -> dict[bytes, Any]:
        """SELECT `folder` unless it is already selected and `refresh` is False."""
        if self.selected != folder or refresh:
            self.selected = None
            self.selected_info = self.imap.select_folder(folder)
            self.selected = folder
        return self.selected_info

    def forget(self) -> None:
        self.selected = None
        self.cache.clear()

    def close_client(self) -> None:
        client, self.client = self.client, None
        self.forget()
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # already gone
            try:
                client.shutdown()
            except Exception:  # noqa: S110  # nothing more to close
                pass


def tls_context() -> ssl.SSLContext:
    """Trust the server's own certificate file when present (the self-signed default)."""
    context = ssl.create_default_context()
    cert = Path(settings.YUBIN_TLS_CERT)
    if settings.YUBIN_WEBMAIL_TLS_VERIFY and cert.exists():
        context.load_verify_locations(cafile=str(cert))
        context.check_hostname = False  # the server is addressed by IP; the chain is still verified
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(address: str, token: str) -> IMAPClient:
    host = settings.YUBIN_WEBMAIL_IMAP_HOST or settings.YUBIN_BIND
    try:
        client = IMAPClient(host, port=settings.YUBIN_PORT_IMAP, ssl=False, timeout=CONNECT_TIMEOUT_SECONDS)
        # imapclient writes a command's line and its CRLF in separate sends: with Nagle's
        # algorithm the CRLF waits for the server's delayed ACK (about 40 ms on Linux) on every
        # SEARCH, SORT, THREAD and literal. The setting stays on the socket after STARTTLS.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if client.has_capability("STARTTLS"):
            client.starttls(tls_context())
        client.oauthbearer_login(address, token)
    except LoginError as error:
        raise ImapAuthExpired(str(error)) from error
    except (*CONNECTION_ERRORS, IMAPClientError) as error:
        raise ImapUnavailable(str(error)) from error
    client.socket().settimeout(COMMAND_TIMEOUT_SECONDS)
    return client


def _close_now(connection: Connection) -> None:
    """Close a slot even while a request holds it (a long poll in IDLE): cut its socket first."""
    if not connection.lock.acquire(timeout=0.5):
        client = connection.client
        if client is not None:
            try:
                client.socket().shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        if not connection.lock.acquire(timeout=5):
            return
    try:
        connection.close_client()
    finally:
        connection.lock.release()


class Pool:
    def __init__(self) -> None:
        self._entries: dict[str, Connection] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    @staticmethod
    def key(token: str, slot: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest() + ":" + slot

    @contextmanager
    def acquire(self, address: str, token: str, slot: str = "main") -> Iterator[Connection]:
        """Yield the session's connection for exclusive use; (re)connect when needed."""
        self._reaper_start()
        key = self.key(token, slot)
        with self._lock:
            connection = self._entries.setdefault(key, Connection(address=address))
        with connection.lock:
            if connection.client is not None and time.monotonic() - connection.last_used > CHECK_AFTER_SECONDS:
                try:
                    connection.client.noop()
                except (*CONNECTION_ERRORS, IMAPClientError):
                    connection.close_client()
            if connection.client is None:
                connection.client = connect(address, token)
            try:
                yield connection
            except CONNECTION_ERRORS as error:
                connection.close_client()
                raise ImapUnavailable(str(error)) from error
            finally:
                connection.last_used = time.monotonic()

    def close(self, token: str) -> None:
        """Log out every connection of this token (the user logged out)."""
        prefix = hashlib.sha256(token.encode()).hexdigest() + ":"
        with self._lock:
            keys = [key for key in self._entries if key.startswith(prefix)]
            closing = [self._entries.pop(key) for key in keys]
        for connection in closing:
            _close_now(connection)

    def close_all(self) -> None:
        with self._lock:
            closing = list(self._entries.values())
            self._entries.clear()
        for connection in closing:
            _close_now(connection)

    def reap(self, *, max_idle: float = POOL_IDLE_SECONDS) -> int:
        """Log out connections unused for `max_idle` seconds; return how many."""
        now = time.monotonic()
        closed = 0
        with self._lock:
            candidates = [(k, c) for k, c in self._entries.items() if now - c.last_used > max_idle]
        for key, connection in candidates:
            if connection.lock.acquire(blocking=False):
                try:
                    with self._lock:
                        if self._entries.get(key) is connection:
                            del self._entries[key]
                    connection.close_client()
                    closed += 1
                finally:
                    connection.lock.release()
        return closed

    def _reaper_start(self) -> None:
        if self._reaper is not None and self._reaper.is_alive():
            return
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper = threading.Thread(target=self._reap_forever, name="imap-pool-reaper", daemon=True)
            self._reaper.start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(30)
            try:
                self.reap()
            except Exception:
                log.exception("IMAP pool reaper")

    def __len__(self) -> int:
        return len(self._entries)


POOL = Pool()
