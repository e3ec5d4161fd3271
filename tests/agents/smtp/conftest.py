"""A real Yubin SMTP server (MX, submission, submissions) on free loopback ports, per test."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.agents.smtp.dns_server import dns_start
from tests.conftest import PASSWORD, LoopThread, free_port


@dataclass
class SmtpPorts:
    mx: int
    submission: int
    submissions: int
    host: str = "127.0.0.1"


def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def smtp_server(settings: Any, make_account: Any, loop_thread: LoopThread) -> Iterator[SmtpPorts]:
    """Start agents.smtp.server.listeners_start on three free ports; sender verification off."""
    ports = SmtpPorts(mx=free_port(), submission=free_port(), submissions=free_port())
    settings.YUBIN_PORT_SMTP = ports.mx
    settings.YUBIN_PORT_SUBMISSION = ports.submission
    settings.YUBIN_PORT_SUBMISSIONS = ports.submissions
    settings.YUBIN_SMTP_VERIFY_SENDER = False
    from agents.smtp.server import listeners_start

    listeners = loop_thread.run(listeners_start(host="127.0.0.1"))

    async def close() -> None:
        for listener in listeners:
            listener.server.close()
            await listener.server.wait_closed()

    try:
        yield ports
    finally:
        loop_thread.run(close())


@pytest.fixture
def accounts(make_account: Any) -> dict[str, Any]:
    """Two local accounts in example.test and one in example.org (all local domains)."""
    return {
        "taro": make_account("taro@example.test"),
        "hanako": make_account("hanako@example.test"),
        "jiro": make_account("jiro@example.org"),
    }


def _dkim_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


@pytest.fixture
def dns_zone(settings: Any) -> Any:
    private, record = _dkim_keys()
    port = free_port()
    server = dns_start(
        port,
        txt={
            "remote.example": ["v=spf1 ip4:127.0.0.1 -all"],
            "sel._domainkey.remote.example": [record],
            "_dmarc.remote.example": ["v=DMARC1; p=none"],
            "strict.example": ["v=spf1 ip4:192.0.2.1 -all"],
            "_dmarc.strict.example": ["v=DMARC1; p=reject"],
        },
    )
    settings.YUBIN_DNS_RESOLVERS = f"127.0.0.1:{port}"
    settings.YUBIN_SMTP_VERIFY_SENDER = True
    yield private
    server.stop()


__all__ = ["PASSWORD", "SmtpPorts", "client_tls"]
