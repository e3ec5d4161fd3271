"""A real DNS server on loopback for tests (dnslib), serving a zone the test writes.

    zone = {"gmail.test": [("MX", "10 mx.gmail.test."), ("TXT", "v=spf1 ip4:127.0.0.3 -all")],
            "mx.gmail.test": [("A", "127.0.0.3")]}
    server = DnsServer(zone); server.start(); ... server.stop()

Unknown names answer NXDOMAIN; known names without the asked type answer NOERROR with no
records. `servfail` and `drop` name sets make the server answer SERVFAIL or nothing (timeout).
The `dns_server` fixture points YUBIN_DNS_RESOLVERS at a running server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.conftest import free_port


def _rdata(rtype: str, value: str) -> Any:
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "MX":
        preference, exchange = value.split(None, 1)
        return MX(exchange, int(preference))
    if rtype == "TXT":
        # Long TXT values (DKIM keys) are split into 255-byte character strings.
        data = value.encode()
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    raise ValueError(f"record type not served: {rtype}")


class _ZoneResolver(BaseResolver):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord | None:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.server.queries.append((qname, qtype))
        if qname in self.server.drop:
            return None  # no answer at all: the client times out
        if qname in self.server.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        records = self.server.zone.get(qname)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in records:
            if rtype == qtype:
                reply.add_answer(RR(qname, QTYPE.reverse[rtype], rdata=_rdata(rtype, value), ttl=self.server.ttl))
        return reply


class _QuietLogger(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


class DnsServer:
    def __init__(self, zone: dict[str, list[tuple[str, str]]] | None = None, *, ttl: int = 0) -> None:
        self.zone: dict[str, list[tuple[str, str]]] = {k.rstrip(".").lower(): v for k, v in (zone or {}).items()}
        self.ttl = ttl
        self.servfail: set[str] = set()
        self.drop: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.host = "127.0.0.1"
        self.port = free_port()
        resolver = _ZoneResolver(self)
        self._servers = [
            DNSServer(resolver, address=self.host, port=self.port, logger=_QuietLogger()),
            DNSServer(resolver, address=self.host, port=self.port, tcp=True, logger=_QuietLogger()),
        ]
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def add(self, name: str, rtype: str, value: str) -> None:
        with self._lock:
            self.zone.setdefault(name.rstrip(".").lower(), []).append((rtype, value))

    def start(self) -> DnsServer:
        for server in self._servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


@pytest.fixture
def dns_server(settings: Any) -> Iterator[DnsServer]:
    """A running DnsServer with an empty zone; YUBIN_DNS_RESOLVERS points at it, with short timeouts."""
    server = DnsServer().start()
    settings.YUBIN_DNS_RESOLVERS = server.address
    settings.YUBIN_DNS_TIMEOUT = 2
    try:
        yield server
    finally:
        server.stop()
