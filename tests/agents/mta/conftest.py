"""Relay test harness: a DNS server on loopback, a scripted SMTP sink as remote.test's MX, a local sender."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.agents.mta.sink import Sink
from tests.conftest import cache_clear
from tests.dnsserver import DnsServer, dns_server  # noqa: F401

SENDER = "taro@example.test"


def port_free(address: str, port: int) -> bool:
    """Whether `address:port` can be bound now (the root-only tests on port 25 check first)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def message(
    *, sender: str = SENDER, to: str = "hanako@remote.test", subject: str = "Hello", body: str = "Hi there.\r\n"
) -> bytes:
    return (
        f"From: Taro <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{abs(hash((subject, body)))}@example.test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


@dataclass
class RelayEnv:
    dns: DnsServer
    sink: Sink
    sender: Any  # the local sender's Account
    settings: Any

    def enqueue(self, *recipients: str, raw: bytes | None = None, sender: str = SENDER, **options: Any) -> Any:
        from store.services.queue import QueueRecipient, queue_enqueue

        addresses = recipients or ("hanako@remote.test",)
        return queue_enqueue(
            raw=raw or message(sender=sender or SENDER, to=addresses[0]),
            sender=sender,
            recipients=[r if isinstance(r, QueueRecipient) else QueueRecipient(r) for r in addresses],
            **options,
        )

    def inbox(self, account: Any = None) -> list[bytes]:
        from store.blobs import blob_read
        from store.models import Message

        owner = account or self.sender
        rows = Message.objects.filter(folder__account=owner, folder__name="INBOX").order_by("uid")
        return [blob_read(m.blob_id) for m in rows]


@pytest.fixture
def relay_env(dns_server, settings, make_account) -> Iterator[RelayEnv]:  # noqa: F811
    from agents.mta.dkim import dkim_key_cache_clear
    from agents.mta.mta_sts import policy_cache_clear

    cache_clear()
    dkim_key_cache_clear()
    policy_cache_clear()
    sink = Sink().start()
    dns_server.zone.update(
        {
            "remote.test": [("MX", "10 mx.remote.test.")],
            "mx.remote.test": [("A", "127.0.0.1")],
        }
    )
    settings.YUBIN_RELAY_PORT = sink.port
    settings.YUBIN_RELAY_CONNECT_TIMEOUT = 5
    settings.YUBIN_RELAY_COMMAND_TIMEOUT = 10
    settings.YUBIN_RELAY_REUSE_SECONDS = 0
    settings.YUBIN_SMARTHOST = ""
    account = make_account(SENDER)
    env = RelayEnv(dns=dns_server, sink=sink, sender=account, settings=settings)
    try:
        yield env
    finally:
        from agents.mta.delivery import pool

        pool.close_all()
        env.sink.stop()
