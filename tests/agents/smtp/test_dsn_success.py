"""NOTIFY=SUCCESS on local delivery (RFC 3461 §5.2.2, §6.2.7.3; RFC 3464): the envelope sender
gets a "delivered" report, or "expanded" for an address that led to several destinations; never
for the null sender or without SUCCESS."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from typing import Any

import pytest

from store.blobs import blob_read
from store.models import Message, OutboundMessage, OutboundRecipient
from store.services import alias_create
from tests.agents.smtp.conftest import SmtpPorts

BODY = b"From: <%s>\r\nTo: <%s>\r\nSubject: please confirm\r\nMessage-ID: <dsn-1@example.test>\r\n\r\nhello\r\n"


def send(
    ports: SmtpPorts, sender: str, recipient: str, rcpt_options: list[str], mail_options: tuple[str, ...] = ()
) -> None:
    with smtplib.SMTP(ports.host, ports.mx, timeout=10) as client:
        client.ehlo("peer.remote.example")
        refused = client.sendmail(
            sender, [recipient], BODY % (sender.encode(), recipient.encode()), list(mail_options), rcpt_options
        )
        assert refused == {}


def inbox(account: Any) -> list[EmailMessage]:
    messages = Message.objects.filter(folder__account=account, folder__name="INBOX").order_by("uid")
    parsed = [email.message_from_bytes(blob_read(m.blob_id), policy=email.policy.default) for m in messages]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def status_blocks(report: EmailMessage) -> list[dict[str, str]]:
    """The message/delivery-status part as (per-message, per-recipient...) field dictionaries."""
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = list(report.iter_parts())
    status = next(p for p in parts if p.get_content_type() == "message/delivery-status")
    blocks = []
    for block in status.get_payload():  # the email package gives one Message per field block
        blocks.append({name.lower(): str(value) for name, value in block.items()})
    return blocks


def test_local_sender_gets_delivered_report(smtp_server: SmtpPorts, accounts: Any) -> None:
    send(
        smtp_server,
        "taro@example.test",
        "hanako@example.test",
        ["NOTIFY=SUCCESS", "ORCPT=rfc822;hanako+2Bdsn@example.test"],
        ("ENVID=QQ+2B314159", "RET=FULL"),
    )
    assert [m["Subject"] for m in inbox(accounts["hanako"])] == ["please confirm"]
    (report,) = inbox(accounts["taro"])
    assert report["Subject"] == "Successful Mail Delivery Report"
    assert report["To"] == "taro@example.test"
    assert report["Auto-Submitted"] == "auto-replied"
    per_message, recipient = status_blocks(report)
    # ENVID and ORCPT come xtext-encoded; the report shows them decoded ("+2B" is "+").
    assert per_message["original-envelope-id"] == "QQ+314159"
    assert recipient["final-recipient"] == "rfc822; hanako@example.test"
    assert recipient["original-recipient"] == "rfc822;hanako+dsn@example.test"
    assert recipient["action"] == "delivered"
    assert recipient["status"] == "2.0.0"
    assert "diagnostic-code" not in recipient
    # A success report returns the headers only, whatever RET asked (RET is about failures).
    returned = list(report.iter_parts())[-1]
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: please confirm" in returned.get_payload(decode=True)
    assert b"hello" not in returned.get_payload(decode=True)


def test_remote_sender_gets_report_through_queue(smtp_server: SmtpPorts, accounts: Any) -> None:
    send(smtp_server, "someone@remote.example", "hanako@example.test", ["NOTIFY=SUCCESS,FAILURE"])
    (queued,) = OutboundMessage.objects.all()
    assert queued.sender == ""  # the report itself never gets a report
    assert list(queued.recipients.values_list("address", flat=True)) == ["someone@remote.example"]
    report = email.message_from_bytes(blob_read(queued.blob_id), policy=email.policy.default)
    assert isinstance(report, EmailMessage)
    assert status_blocks(report)[1]["action"] == "delivered"


def test_no_report_without_success_or_from_null_sender(smtp_server: SmtpPorts, accounts: Any) -> None:
    send(smtp_server, "taro@example.test", "hanako@example.test", [])
    send(smtp_server, "taro@example.test", "hanako@example.test", ["NOTIFY=FAILURE,DELAY"])
    send(smtp_server, "taro@example.test", "hanako@example.test", ["NOTIFY=NEVER"])
    send(smtp_server, "", "hanako@example.test", ["NOTIFY=SUCCESS"])
    assert len(inbox(accounts["hanako"])) == 4
    assert inbox(accounts["taro"]) == []
    assert not OutboundMessage.objects.exists()


def test_alias_to_several_destinations_is_expanded(smtp_server: SmtpPorts, accounts: Any) -> None:
    """One "expanded" line for the address; its remote destination is not asked for success again."""
    alias_create(source="team@example.test", destinations=["hanako@example.test", "friend@remote.example"])
    send(smtp_server, "taro@example.test", "team@example.test", ["NOTIFY=SUCCESS"])
    assert len(inbox(accounts["hanako"])) == 1
    (report,) = inbox(accounts["taro"])
    _, recipient = status_blocks(report)
    assert recipient["final-recipient"] == "rfc822; team@example.test"
    assert recipient["action"] == "expanded"
    forwarded = OutboundRecipient.objects.get(address="friend@remote.example")
    assert forwarded.dsn_notify == "NEVER"


def test_alias_to_one_account_is_delivered(smtp_server: SmtpPorts, accounts: Any) -> None:
    alias_create(source="info@example.test", destinations=["hanako@example.test"])
    send(smtp_server, "taro@example.test", "info@example.test", ["NOTIFY=SUCCESS,FAILURE"])
    (report,) = inbox(accounts["taro"])
    _, recipient = status_blocks(report)
    assert (recipient["final-recipient"], recipient["action"]) == ("rfc822; info@example.test", "delivered")


def test_sieve_discard_is_no_delivery_and_fileinto_is(smtp_server: SmtpPorts, accounts: Any) -> None:
    """Success is reported for a copy stored in any folder, not for one a rule discarded."""
    from store.services.sieve import sieve_script_put

    sieve_script_put(account=accounts["hanako"], name="drop", activate=True, content='require "fileinto"; discard;')
    send(smtp_server, "taro@example.test", "hanako@example.test", ["NOTIFY=SUCCESS"])
    assert inbox(accounts["taro"]) == []
    sieve_script_put(
        account=accounts["hanako"], name="drop", activate=True, content='require "fileinto"; fileinto "Archive";'
    )
    send(smtp_server, "taro@example.test", "hanako@example.test", ["NOTIFY=SUCCESS"])
    (report,) = inbox(accounts["taro"])
    assert status_blocks(report)[1]["action"] == "delivered"
    assert Message.objects.filter(folder__account=accounts["hanako"], folder__name="Archive").count() == 1


@pytest.mark.parametrize(
    ("option", "reply"),
    [
        ("NOTIFY=NEVER,SUCCESS", "5.5.4 Bad NOTIFY parameter syntax"),
        ("NOTIFY=SOMETIMES", "5.5.4 Bad NOTIFY parameter syntax"),
        ("NOTIFY", "5.5.4 Bad NOTIFY parameter syntax"),
        ("ORCPT=rfc822;a+ZZb@example.test", "5.5.4 Bad ORCPT parameter syntax"),
        ("ORCPT=hanako@example.test", "5.5.4 Bad ORCPT parameter syntax"),
    ],
)
def test_bad_dsn_parameters_are_named(smtp_server: SmtpPorts, accounts: Any, option: str, reply: str) -> None:
    """RFC 3461 §4: a malformed NOTIFY or ORCPT is a syntax error of that parameter (501), not
    an unknown parameter or a bad address."""
    with smtplib.SMTP(smtp_server.host, smtp_server.mx, timeout=10) as client:
        client.ehlo("peer.remote.example")
        client.mail("someone@remote.example")
        assert client.rcpt("hanako@example.test", [option]) == (501, reply.encode())
        assert (
            client.rcpt("hanako@example.test", ["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;hanako+2B1@example.test"])[0]
            == 250
        )
