"""The delivery log the admin panel's tracking and dashboard read: received (with the sender's
host and SPF/DKIM/DMARC verdicts), delivered (to which address and folder, by which rule), and
rejected recipients."""

from __future__ import annotations

import smtplib
import time
from typing import Any

import dkim

from store.models import DeliveryLog
from store.services.sieve import sieve_script_put
from tests.agents.smtp.conftest import PASSWORD, SmtpPorts, client_tls
from tests.agents.smtp.test_mx import BODY, mx


def test_received_and_delivered_lines(smtp_server: SmtpPorts, accounts: Any, dns_zone: bytes) -> None:
    body = BODY.replace(b"staff@", b"hanako@")
    signature = dkim.sign(body, b"sel", b"remote.example", dns_zone, include_headers=[b"from", b"to", b"subject"])
    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["hanako@example.test"], signature + body)
    client.quit()
    received = DeliveryLog.objects.get(event="received")
    assert received.recipient == "hanako@example.test" and received.sender == "sender@remote.example"
    assert received.remote_host == "peer.remote.example" and received.client_ip == "127.0.0.1"
    assert received.detail == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    delivered = DeliveryLog.objects.get(event="delivered")
    assert delivered.recipient == "hanako@example.test" and delivered.folder == "INBOX"
    assert delivered.message_id == received.message_id
    assert received.pk < delivered.pk  # tracking lists a message's steps in the order they happened


def test_received_lines_of_local_and_remote_recipients(smtp_server: SmtpPorts, accounts: Any) -> None:
    """A submission to a local and a remote recipient logs both as received, then the local copy
    as delivered; one to remote recipients only (no local copy) logs its received lines too."""
    client = smtplib.SMTP(smtp_server.host, smtp_server.submission, timeout=10)
    client.ehlo("client.example")
    client.starttls(context=client_tls())
    client.login("taro@example.test", PASSWORD)
    message = b"From: taro@example.test\r\nSubject: both\r\nMessage-ID: <both@example.test>\r\n\r\nHi.\r\n"
    client.sendmail("taro@example.test", ["hanako@example.test", "someone@remote.example"], message)
    remote_only = message.replace(b"<both@", b"<away@")
    client.sendmail("taro@example.test", ["someone@remote.example", "other@remote.example"], remote_only)
    client.quit()
    both = list(
        DeliveryLog.objects.filter(message_id="<both@example.test>").order_by("pk").values_list("event", "recipient")
    )
    assert both[:2] == [("received", "hanako@example.test"), ("received", "someone@remote.example")]
    assert ("delivered", "hanako@example.test") in both[2:]
    assert ("queued", "someone@remote.example") in both[2:]
    away = DeliveryLog.objects.filter(message_id="<away@example.test>").order_by("pk")
    assert [row.event for row in away] == ["received", "received", "queued", "queued"]
    assert sorted(row.recipient for row in away[:2]) == ["other@remote.example", "someone@remote.example"]
    assert all(row.detail == {"authenticated": "taro@example.test"} for row in away[:2])


def test_delivered_line_names_the_rule(smtp_server: SmtpPorts, accounts: Any) -> None:
    sieve_script_put(
        account=accounts["taro"],
        name="lists",
        content=(
            'require ["fileinto", "mailbox"];\nif header :contains "subject" "hi" { fileinto :create "Greetings"; }\n'
        ),
        activate=True,
    )
    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["taro@example.test"], BODY.replace(b"staff@", b"taro@"))
    client.quit()
    delivered = DeliveryLog.objects.get(event="delivered")
    assert (delivered.recipient, delivered.folder, delivered.rule) == ("taro@example.test", "Greetings", "lists")


def test_rejected_recipients_are_logged(smtp_server: SmtpPorts, accounts: Any) -> None:
    client = mx(smtp_server)
    client.mail("sender@remote.example")
    assert client.rcpt("nobody@example.test")[0] == 550
    assert client.rcpt("victim@elsewhere.example")[0] == 554
    client.quit()
    deadline = time.monotonic() + 10
    while DeliveryLog.objects.filter(event="rejected").count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    rejected = dict(DeliveryLog.objects.filter(event="rejected").values_list("recipient", "reply"))
    assert rejected["nobody@example.test"].startswith("550 5.1.1")
    assert rejected["victim@elsewhere.example"].startswith("554 5.7.1")


def test_smtp_client_sees_no_difference(smtp_server: SmtpPorts, accounts: Any) -> None:
    """Logging never changes the replies: a normal delivery is still 250."""
    client = smtplib.SMTP(smtp_server.host, smtp_server.mx, timeout=10)
    client.ehlo("peer.remote.example")
    assert client.sendmail("sender@remote.example", ["jiro@example.org"], BODY) == {}
    client.quit()
