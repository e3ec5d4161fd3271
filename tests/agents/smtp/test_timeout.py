"""Sessions end when they should: the idle timeout (YUBIN_SMTP_TIMEOUT) closes silent ones, a client
hanging up closes its session, and only then."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.agents.smtp.conftest import SmtpPorts
from tests.agents.smtp.wire import Wire


@pytest.fixture
def short_timeout(settings: Any) -> None:
    settings.YUBIN_SMTP_TIMEOUT = 1


def test_idle_session_closed_busy_session_kept(short_timeout: None, smtp_server: SmtpPorts, accounts: Any) -> None:
    """A client silent for longer than the timeout is disconnected; one that sends a command more
    often than that stays connected past several timeout periods."""
    idle = Wire(smtp_server.host, smtp_server.mx)
    busy = Wire(smtp_server.host, smtp_server.mx)
    assert idle.reply().startswith("220 ") and busy.reply().startswith("220 ")
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        assert busy.command("NOOP").startswith("250")
        time.sleep(0.3)
    assert idle.closed(wait=1.0)
    assert busy.command("EHLO client.example").startswith("250")
    assert busy.closed(wait=3.0)
    idle.close()
    busy.close()


@pytest.fixture
def three_per_address(settings: Any) -> None:
    settings.YUBIN_SMTP_MAX_CONNECTIONS_PER_IP = 3


def test_client_hanging_up_without_quit_frees_its_slot(three_per_address: None, smtp_server: SmtpPorts) -> None:
    """A client that closes its end without QUIT has its session closed and its connection slot
    given back: with a limit of three per address, ten such clients in a row are all greeted."""
    for _ in range(10):
        with socket.create_connection((smtp_server.host, smtp_server.mx), timeout=10) as sock:
            assert sock.recv(512).startswith(b"220 ")
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(512) == b""  # the server closed its end too
