"""The idle timeout (YUBIN_SMTP_TIMEOUT) closes silent sessions, and only silent ones."""

from __future__ import annotations

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
