"""Submission with smtplib: STARTTLS + AUTH, sender ownership, delivery into the store."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from agents.smtp import codes
from store.models import Message
from tests.agents.smtp.conftest import PASSWORD, SmtpPorts, client_tls

MESSAGE = (
    b"From: taro@example.test\r\nTo: hanako@example.test\r\nSubject: hello\r\n"
    b"Message-ID: <m1@example.test>\r\n\r\nHi Hanako.\r\n"
)


def submit(ports: SmtpPorts) -> smtplib.SMTP:
    client = smtplib.SMTP(ports.host, ports.submission, timeout=10)
    client.ehlo("client.example")
    client.starttls(context=client_tls())
    client.ehlo("client.example")
    return client


def test_starttls_auth_and_local_delivery(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """Taro submits to Hanako on 587 with STARTTLS + AUTH PLAIN; the message is in Hanako's INBOX."""
    client = submit(smtp_server)
    assert "auth" in client.esmtp_features and "PLAIN" in client.esmtp_features["auth"]
    client.login("taro@example.test", PASSWORD)
    refused = client.sendmail("taro@example.test", ["hanako@example.test"], MESSAGE)
    assert refused == {}
    client.quit()
    message = Message.objects.get(folder__account=accounts["hanako"])
    assert message.subject == "hello"
    from store.blobs import blob_read

    stored = blob_read(message.blob_id)
    assert stored.startswith(b"Received: from client.example ([127.0.0.1])")
    assert b"with ESMTPSA" in stored
    assert stored.endswith(MESSAGE)


def test_auth_not_offered_before_tls(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """On 587 before STARTTLS: no AUTH in EHLO, MAIL refused with 530 (RFC 3207 / RFC 6409)."""
    client = smtplib.SMTP(smtp_server.host, smtp_server.submission, timeout=10)
    client.ehlo("client.example")
    assert "auth" not in client.esmtp_features
    assert "starttls" in client.esmtp_features
    code, text = client.docmd("MAIL", "FROM:<taro@example.test>")
    assert f"{code} {text.decode()}" == codes.STARTTLS_REQUIRED
    client.close()


def test_mail_from_must_be_owned(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """An authenticated account cannot send as another account: 553 5.7.1."""
    client = submit(smtp_server)
    client.login("taro@example.test", PASSWORD)
    code, text = client.mail("hanako@example.test")
    assert f"{code} {text.decode()}" == codes.SENDER_NOT_OWNED
    client.close()


def test_mail_without_auth_refused(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """After STARTTLS but without AUTH, MAIL gets 530 5.7.0."""
    client = submit(smtp_server)
    code, text = client.mail("taro@example.test")
    assert f"{code} {text.decode()}" == codes.AUTH_REQUIRED
    client.close()


def test_wrong_password(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """A wrong password gets 535 5.7.8."""
    client = submit(smtp_server)
    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        client.login("taro@example.test", "wrong")
    assert raised.value.smtp_code == 535
    client.close()


def test_implicit_tls_and_remote_recipient_queued(smtp_server: SmtpPorts, accounts: dict[str, Any]) -> None:
    """On 465 (RFC 8314) AUTH LOGIN works and a remote recipient becomes an outbound queue row."""
    from store.models import OutboundRecipient

    client = smtplib.SMTP_SSL(smtp_server.host, smtp_server.submissions, timeout=10, context=client_tls())
    client.ehlo("client.example")
    client.user, client.password = "taro@example.test", PASSWORD
    code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
    assert code == 235
    client.sendmail("taro@example.test", ["someone@remote.example"], MESSAGE)
    client.quit()
    row = OutboundRecipient.objects.get()
    assert row.address == "someone@remote.example"
    assert row.message.sender == "taro@example.test"


def test_submission_adds_missing_message_id_and_date(smtp_server, accounts):
    """A client that leaves out Message-ID and Date gets them added (RFC 6409 §8); present ones stay."""
    from store.blobs import blob_read
    from store.models import Message

    client = smtplib.SMTP(smtp_server.host, smtp_server.submission, timeout=10)
    client.starttls(context=client_tls())
    client.login("taro@example.test", PASSWORD)
    client.sendmail("taro@example.test", ["hanako@example.test"], b"Subject: bare\r\n\r\nno ids\r\n")
    client.sendmail(
        "taro@example.test",
        ["hanako@example.test"],
        b"Message-ID: <mine@client>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0900\r\nSubject: full\r\n\r\nx\r\n",
    )
    client.quit()
    bare, full = (
        blob_read(m.blob_id) for m in Message.objects.filter(folder__account=accounts["hanako"]).order_by("uid")
    )
    assert b"\r\nMessage-ID: <" in bare and b"@mail.test>\r\n" in bare and b"\r\nDate: " in bare
    assert full.count(b"Message-ID:") == 1 and b"Message-ID: <mine@client>" in full and full.count(b"\r\nDate:") == 1
