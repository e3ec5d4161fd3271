"""Real clients: Debian's swaks and aiosmtplib (STARTTLS + AUTH, pipelining, 8-bit, SMTPUTF8, ISO-2022-JP)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from store.blobs import blob_read
from store.models import Message
from tests.agents.smtp.conftest import PASSWORD, SmtpPorts, client_tls

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")


def swaks(ports: SmtpPorts, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    command = ["swaks", "--server", f"{ports.host}:{port or ports.submission}", "--helo", "client.example", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_swaks_starttls_auth_pipelining(smtp_server: SmtpPorts, accounts: Any) -> None:
    """swaks with -tls, AUTH PLAIN and PIPELINING delivers to two local recipients."""
    result = swaks(
        smtp_server,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "taro@example.test",
        "--auth-password",
        PASSWORD,
        "--pipeline",
        "--from",
        "taro@example.test",
        "--to",
        "hanako@example.test,jiro@example.org",
        "--header",
        "Subject: via swaks",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 OK" in result.stdout
    assert Message.objects.filter(subject="via swaks").count() == 2


def test_swaks_auth_login_on_submissions(smtp_server: SmtpPorts, accounts: Any) -> None:
    """swaks over implicit TLS (--tlsc) with AUTH LOGIN."""
    result = swaks(
        smtp_server,
        "--tlsc",
        "--auth",
        "LOGIN",
        "--auth-user",
        "taro@example.test",
        "--auth-password",
        PASSWORD,
        "--from",
        "taro@example.test",
        "--to",
        "hanako@example.test",
        port=smtp_server.submissions,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert Message.objects.filter(folder__account=accounts["hanako"]).count() == 1


def test_swaks_8bit_body(smtp_server: SmtpPorts, accounts: Any, tmp_path: Any) -> None:
    """An 8-bit UTF-8 body with BODY=8BITMIME arrives byte for byte on the MX."""
    raw = (
        "From: a@remote.example\r\nTo: hanako@example.test\r\nSubject: 8bit\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "こんにちは、花子さん。\r\n"
    ).encode()
    path = tmp_path / "mail.eml"
    path.write_bytes(raw)
    result = swaks(
        smtp_server,
        "--from",
        "a@remote.example",
        "--to",
        "hanako@example.test",
        "--data",
        str(path),
        "--protocol",
        "ESMTP",
        port=smtp_server.mx,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    stored = blob_read(Message.objects.get().blob_id)
    assert raw in stored  # swaks adds a final CRLF of its own


def test_aiosmtplib_smtputf8_and_iso2022jp(smtp_server: SmtpPorts, accounts: Any, make_account: Any) -> None:
    """aiosmtplib: STARTTLS + AUTH, an SMTPUTF8 recipient, and an ISO-2022-JP message."""
    make_account("花子@example.test")
    message = EmailMessage()
    message["From"] = "taro@example.test"
    message["To"] = "花子@example.test"
    message["Subject"] = "会議の件"
    message.set_content("明日の会議は十時からです。\n", charset="iso-2022-jp")

    async def run() -> None:
        client = aiosmtplib.SMTP(
            hostname=smtp_server.host, port=smtp_server.submission, start_tls=True, tls_context=client_tls()
        )
        await client.connect()
        await client.login("taro@example.test", PASSWORD)
        await client.send_message(message)
        await client.quit()

    asyncio.run(run())
    stored = Message.objects.get(folder__account__address="花子@example.test")
    assert stored.subject == "会議の件"
    raw = blob_read(stored.blob_id)
    assert b'charset="iso-2022-jp"' in raw and b"\x1b$B" in raw
    assert b"with UTF8SMTPSA" in raw
