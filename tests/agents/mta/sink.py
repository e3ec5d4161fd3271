"""A scripted SMTP server for relay tests: a real aiosmtpd server on loopback that records what
it receives and answers RCPT/DATA from queues of replies the test sets."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    peer: str
    tls: bool
    mail_options: list[str]
    rcpt_options: list[str]


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)  # popped per MAIL; empty = accept
    rcpt_replies: list[str] = field(default_factory=list)  # popped per RCPT
    data_replies: list[str] = field(default_factory=list)  # popped per DATA
    data_delay: float = 0.0
    # True: the message counts as taken when the final dot arrives, before the delayed 250 (what a
    # real MTA that has queued it does even if the client never hears the reply: RFC 1047).
    keep_before_reply: bool = False
    data_started: threading.Event = field(default_factory=threading.Event)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.rcpt_replies:
            reply = self.rcpt_replies.pop(0)
            if not reply.startswith("2"):
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        self.data_started.set()
        if self.keep_before_reply:
            self._keep(server, session, envelope)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 client went away"  # nobody hears this; kept only with keep_before_reply
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if not reply.startswith("2"):
                return reply
        if not self.keep_before_reply:
            self._keep(server, session, envelope)
        return "250 2.0.0 Ok: queued"

    def _keep(self, server: Any, session: Any, envelope: Any) -> None:
        self.received.append(
            Received(
                sender="" if envelope.mail_from == "<>" else envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                data=envelope.original_content,
                peer=session.peer[0],
                tls=session.ssl is not None,
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
            )
        )


class Sink:
    """Sink(host="127.0.0.1", tls_context=..., **aiosmtpd options).start() ... .stop()"""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, **options: Any) -> None:
        self.handler = SinkHandler()
        self.host = host
        self.port = port or free_port(host)
        self.options = {"enable_SMTPUTF8": False, **options}

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> Sink:
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


def password_authenticator(user: str, password: str):  # type: ignore[no-untyped-def]
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate
