"""DESIGN rule 1: kill the SMTP process with SIGKILL at each delivery stage.

Either the client saw 250 and the message is in the store, or it never saw 250. Stages before
COMMIT must leave nothing in the store; after COMMIT the message is there even though the client
got no answer (it will retry: delivery is at-least-once).
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from store.models import Folder, Message
from tests.conftest import free_port, wait_for_orphaned_sessions

SERVER = """
import asyncio, django
django.setup()
from agents.smtp.server import listeners_start
async def main():
    await listeners_start(host="127.0.0.1")
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

MESSAGE = b"From: a@remote.example\r\nTo: hanako@example.test\r\nSubject: durable\r\n\r\n" + b"x" * 70 + b"\r\n"


def database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    return f"postgres://{config['USER']}{password}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


def start_server(fault: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="yubin.settings_test",
        YUBIN_DATA_DIR=str(django_settings.DATA_DIR),
        DATABASE_URL=database_url(),
        YUBIN_PORT_SMTP=str(port),
        YUBIN_PORT_SUBMISSION="0",
        YUBIN_PORT_SUBMISSIONS="0",
        YUBIN_SMTP_VERIFY_SENDER="0",
        YUBIN_TEST_FAULT=fault,
    )
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process, port


@pytest.mark.parametrize("fault", ["", "data", "blob", "commit", "committed"])
def test_sigkill_at_each_stage(make_account: Any, fault: str) -> None:
    """No 250 without a stored message; nothing stored when killed before COMMIT."""
    hanako = make_account("hanako@example.test")
    process, port = start_server(fault)
    saw_250 = False
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=20)
        client.ehlo("peer.example")
        client.mail("a@remote.example")
        client.rcpt("hanako@example.test")
        code, _ = client.data(MESSAGE)
        saw_250 = code == 250
        client.quit()
    except (smtplib.SMTPException, ConnectionError, OSError):
        pass
    finally:
        if fault:
            assert process.wait(timeout=20) == -9  # it really died by SIGKILL at that stage
        else:
            process.kill()
            process.wait(timeout=20)
        wait_for_orphaned_sessions()
    stored = Message.objects.filter(folder__account=hanako).count()
    if saw_250:
        assert stored == 1
    if fault in ("data", "blob", "commit"):
        assert not saw_250 and stored == 0
    if fault == "committed":
        assert not saw_250 and stored == 1
    if fault == "":
        assert saw_250
    inbox = Folder.objects.get(account=hanako, name="INBOX")
    assert inbox.message_count == stored  # counters committed together with the rows
