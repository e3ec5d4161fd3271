"""Shared harness: a real IMAP server on free loopback ports in a loop thread, and clients for it."""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD, LoopThread, free_port
from tests.wire import LineSocket

ADDRESS = "taro@example.test"
OTHER = "hanako@example.test"


@dataclass
class ImapHarness:
    host: str
    port: int
    tls_port: int
    loop: LoopThread
    server: Any
    account: Any

    def client(self, *, login: bool = True, address: str = ADDRESS) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        if login:
            client.login(address, PASSWORD)
        return client

    def tls_client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return imaplib.IMAP4_SSL(self.host, self.tls_port, ssl_context=context, timeout=10)

    def raw(self) -> RawClient:
        return RawClient(self.host, self.port)

    def deliver(self, raw: bytes, folder: str = "INBOX", address: str = ADDRESS, **options: Any) -> Any:
        from store.models import Account
        from store.services import DeliveryTarget, message_deliver

        account = Account.objects.get(address=address)
        return message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk, folder=folder, **options)])


class RawClient(LineSocket):
    """A socket client for exact-byte transcripts."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.greeting = self.line()

    def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag: bytes, text: bytes) -> list[bytes]:
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag)


def message(
    subject: str = "Hello", body: str = "Hi there.\r\n", sender: str = "jiro@example.org", **headers: str
) -> bytes:
    fields = {"Date": "Mon, 01 Jan 2024 10:00:00 +0000", "Message-ID": f"<{abs(hash((subject, body)))}@example.org>"}
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    extra = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return (f"From: Jiro <{sender}>\r\nTo: taro@example.test\r\nSubject: {subject}\r\n{extra}\r\n{body}").encode()


@pytest.fixture
def imap(make_account: Callable[..., Any], loop_thread: LoopThread) -> Iterator[ImapHarness]:
    from agents.imap.folder_cache import caches_clear
    from agents.imap.server import ImapServer
    from agents.imap.view import FEEDS

    FEEDS.clear()
    caches_clear()
    account = make_account(ADDRESS)
    make_account(OTHER)
    server = ImapServer(allow_plaintext_loopback=True)
    port, tls_port = free_port(), free_port()
    loop_thread.run(server.listen("127.0.0.1", port, implicit_tls=False))
    loop_thread.run(server.listen("127.0.0.1", tls_port, implicit_tls=True))
    yield ImapHarness("127.0.0.1", port, tls_port, loop_thread, server, account)
    loop_thread.run(server.close())
