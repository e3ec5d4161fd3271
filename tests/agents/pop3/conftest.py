"""POP3 harness: a real server on loopback (both ports), accounts with INBOX mail, poplib clients."""

from __future__ import annotations

import poplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD, LoopThread, cache_clear, free_port


@dataclass
class Pop3Server:
    host: str
    port: int
    tls_port: int

    def client(self, *, timeout: float = 10) -> poplib.POP3:
        return poplib.POP3(self.host, self.port, timeout=timeout)

    def tls_client(self, *, timeout: float = 10) -> poplib.POP3_SSL:
        return poplib.POP3_SSL(self.host, self.tls_port, timeout=timeout, context=insecure_context())

    def login(self, address: str, password: str = PASSWORD) -> poplib.POP3:
        client = self.client()
        client.user(address)
        client.pass_(password)
        return client


def insecure_context() -> ssl.SSLContext:
    """The test certificate is self-signed; the tests check the protocol, not the PKI."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def pop3_server(loop_thread: LoopThread, transactional_db: None) -> Iterator[Pop3Server]:
    from agents.pop3.server import pop3_servers_start
    from agents.storecalls import store_threads_stop

    cache_clear()  # locks and throttle counts of earlier tests
    port, tls_port = free_port(), free_port()
    listeners = loop_thread.run(pop3_servers_start(host="127.0.0.1", port=port, tls_port=tls_port))
    yield Pop3Server("127.0.0.1", port, tls_port)

    async def close() -> None:
        for listener in listeners:
            listener.server.close()

    loop_thread.run(close())
    store_threads_stop()


@pytest.fixture
def deliver() -> Callable[..., int]:
    """deliver(account, raw) puts raw into the account's INBOX and returns its UID."""
    from store.services import DeliveryTarget, message_deliver

    def put(account: Any, raw: bytes, folder: str = "INBOX") -> int:
        result = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk, folder=folder)])
        return result.delivered[0].uid

    return put


def sample_message(number: int, body: bytes = b"Hello.\r\n") -> bytes:
    return (
        f"From: sender@example.org\r\nTo: taro@example.test\r\nSubject: message {number}\r\n"
        f"Message-ID: <m{number}@example.org>\r\n\r\n"
    ).encode() + body
