"""A real Yubin SMTP server (MX, submission, submissions) on free loopback ports, per test."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

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


__all__ = ["PASSWORD", "SmtpPorts", "client_tls"]
