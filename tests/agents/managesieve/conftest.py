"""ManageSieve harness: the real server on a loopback port, sievelib clients and a raw socket client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import PASSWORD, LoopThread, cache_clear, free_port
from tests.wire import LineSocket

ADDRESS = "sieve@example.test"


@dataclass
class SieveServer:
    host: str
    port: int

    def client(self):  # type: ignore[no-untyped-def]
        from sievelib.managesieve import Client

        return Client(self.host, self.port)

    def login(self, address: str = ADDRESS, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        client = self.client()
        assert client.connect(address, password, authmech="PLAIN")
        return client

    def raw(self) -> Wire:
        return Wire(self.host, self.port)


class Wire(LineSocket):
    """A socket client for exact-byte exchanges; reads up to the OK/NO/BYE that ends a response."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.greeting = self.response()

    def line(self, *, closed_ok: bool = True) -> bytes:
        """A closed connection reads as b"" (the tests check the server hung up)."""
        return super().line(closed_ok=closed_ok)

    def response(self) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if not line or line.startswith((b"OK", b"NO", b"BYE")):
                return lines

    def command(self, data: bytes) -> list[bytes]:
        self.send(data)
        return self.response()


@pytest.fixture
def sieve_server(loop_thread: LoopThread, transactional_db: None) -> Iterator[SieveServer]:
    from agents.managesieve.server import managesieve_server_start
    from agents.storecalls import store_threads_stop

    cache_clear()
    port = free_port()
    listeners = loop_thread.run(managesieve_server_start(host="127.0.0.1", port=port))
    yield SieveServer("127.0.0.1", port)

    async def close() -> None:
        for listener in listeners:
            listener.server.close()

    loop_thread.run(close())
    store_threads_stop()


@pytest.fixture
def account(make_account):  # type: ignore[no-untyped-def]
    return make_account(ADDRESS)


@pytest.fixture
def trust_server_certificate(monkeypatch, settings):  # type: ignore[no-untyped-def]
    """sievelib verifies the certificate: trust the server's self-signed one (it names 127.0.0.1)."""
    from agents.tls import certificate_ensure

    cert, _ = certificate_ensure()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
