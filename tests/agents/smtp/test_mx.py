"""MX delivery: aliases (multi-level, catch-all, remote targets, loops), quota, trace and
Authentication-Results headers with SPF/DKIM/DMARC against a real DNS server on loopback."""

from __future__ import annotations

import smtplib
from typing import Any

import dkim
import pytest

from agents.smtp import codes
from store.blobs import blob_read
from store.models import Alias, Domain, Message, OutboundRecipient
from store.services import alias_create
from tests.agents.smtp.conftest import SmtpPorts

BODY = b"From: Sender <sender@remote.example>\r\nTo: staff@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


def mx(ports: SmtpPorts) -> smtplib.SMTP:
    client = smtplib.SMTP(ports.host, ports.mx, timeout=10)
    client.ehlo("peer.remote.example")
    return client


def inbox_count(account: Any) -> int:
    return Message.objects.filter(folder__account=account, folder__name="INBOX").count()


def test_alias_multilevel_catch_all_and_remote(smtp_server: SmtpPorts, accounts: Any) -> None:
    """staff -> (team, outside) -> team -> (taro, hanako); catch-all of example.org -> jiro."""
    alias_create(source="team@example.test", destinations=["taro@example.test", "hanako@example.test"])
    alias_create(source="staff@example.test", destinations=["team@example.test", "friend@remote.example"])
    alias_create(source="@example.org", destinations=["jiro@example.org"])
    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["staff@example.test", "anything@example.org"], BODY)
    client.quit()
    assert inbox_count(accounts["taro"]) == inbox_count(accounts["hanako"]) == inbox_count(accounts["jiro"]) == 1
    assert len({m.blob_id for m in Message.objects.all()}) == 1  # one blob for every copy
    assert list(OutboundRecipient.objects.values_list("address", flat=True)) == ["friend@remote.example"]


def test_postmaster_always_reaches_someone(smtp_server: SmtpPorts, accounts: Any, settings: Any) -> None:
    """RFC 5321 §4.5.1: postmaster (any case) is accepted in every local domain and bare, without a
    domain. With no account or alias of that name, it goes to the domain's administrators, else to
    the site's superadministrators; an alias of the name wins."""
    from store.models import Role

    hanako = accounts["hanako"]
    hanako.admin_domains.add(Domain.objects.get(name="example.test"))
    jiro = accounts["jiro"]
    jiro.role = Role.SUPERADMIN
    jiro.save()
    client = mx(smtp_server)
    client.mail("sender@remote.example")
    assert client.rcpt("<PostMaster@example.test>")[0] == 250
    client.data(BODY)
    client.mail("sender@remote.example")
    assert client.rcpt("<Postmaster>")[0] == 250  # the host's own postmaster: the superadministrators
    assert client.rcpt("<postmaster@nowhere.example>")[0] == 554  # still no relay
    assert client.rcpt("<nobody@example.test>")[0] == 550
    client.data(BODY)
    client.quit()
    assert inbox_count(hanako) == 1 and inbox_count(jiro) == 1 and inbox_count(accounts["taro"]) == 0
    alias_create(source="postmaster@example.test", destinations=["taro@example.test"])
    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["postmaster@example.test"], BODY)
    client.quit()
    assert inbox_count(accounts["taro"]) == 1 and inbox_count(hanako) == 1


def test_alias_loop_refused_at_rcpt(smtp_server: SmtpPorts, accounts: Any) -> None:
    """An alias loop that leads nowhere is refused with 550 5.4.6, not delivered forever."""
    domain = Domain.objects.get(name="example.test")
    Alias.objects.create(source="ping@example.test", domain=domain, destinations=["pong@example.test"])
    Alias.objects.create(source="pong@example.test", domain=domain, destinations=["ping@example.test"])
    client = mx(smtp_server)
    client.mail("sender@remote.example")
    code, text = client.rcpt("ping@example.test")
    assert (code, text.decode()) == (550, "5.4.6 Alias expansion loop for this recipient")
    client.close()


@pytest.mark.parametrize("permanent", [False, True])
def test_quota_refused_per_recipient(smtp_server: SmtpPorts, accounts: Any, settings: Any, permanent: bool) -> None:
    """A full mailbox gets 452 4.2.2 (or 552 5.2.2 when permanent) at RCPT; the others still get the mail."""
    settings.YUBIN_QUOTA_PERMANENT = permanent
    hanako = accounts["hanako"]
    hanako.quota, hanako.used_bytes = 1000, 1000
    hanako.save()
    client = mx(smtp_server)
    refused = client.sendmail("sender@remote.example", ["hanako@example.test", "taro@example.test"], BODY)
    expected = codes.QUOTA_PERMANENT if permanent else codes.QUOTA_TEMPORARY
    assert refused == {"hanako@example.test": (int(expected[:3]), expected[4:].encode())}
    client.quit()
    assert inbox_count(accounts["taro"]) == 1 and inbox_count(hanako) == 0


def test_quota_at_data_time(smtp_server: SmtpPorts, accounts: Any) -> None:
    """When the message itself does not fit (no SIZE given), DATA is answered 452 4.2.2 and nothing stored."""
    hanako = accounts["hanako"]
    hanako.quota, hanako.used_bytes = 1000, 990
    hanako.save()
    client = mx(smtp_server)
    client.mail("sender@remote.example")
    assert client.rcpt("hanako@example.test")[0] == 250
    code, text = client.data(BODY)
    assert f"{code} {text.decode()}" == codes.QUOTA_TEMPORARY
    client.quit()
    assert Message.objects.count() == 0


def test_authentication_results_pass(smtp_server: SmtpPorts, accounts: Any, dns_zone: bytes) -> None:
    """A DKIM-signed message from an SPF-authorised address gets spf=pass dkim=pass dmarc=pass."""
    body = BODY.replace(b"staff@", b"hanako@")
    signature = dkim.sign(body, b"sel", b"remote.example", dns_zone, include_headers=[b"from", b"to", b"subject"])
    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["hanako@example.test"], signature + body)
    client.quit()
    stored = blob_read(Message.objects.get().blob_id)
    header = stored.split(b"\r\nReceived:")[0].decode()
    assert header.startswith("Authentication-Results: mail.test;")
    assert "spf=pass" in header and "dkim=pass" in header and "dmarc=pass" in header


def test_dmarc_reject_policy(smtp_server: SmtpPorts, accounts: Any, dns_zone: bytes) -> None:
    """From a p=reject domain, failing SPF and without DKIM: DATA is answered 550 5.7.1."""
    body = b"From: boss@strict.example\r\nTo: hanako@example.test\r\nSubject: wire money\r\n\r\nnow\r\n"
    client = mx(smtp_server)
    client.mail("boss@strict.example")
    client.rcpt("hanako@example.test")
    code, text = client.data(body)
    assert f"{code} {text.decode()}" == codes.DMARC_REJECT
    client.quit()
    assert Message.objects.count() == 0


def test_ehlo_reply_is_one_segment_in_order(smtp_server: SmtpPorts, settings: Any) -> None:
    """The EHLO reply, byte for byte, comes whole in the first read: one write, not a packet per
    line (a peer waiting for each line saw eight round trips' worth of segments)."""
    import socket

    with socket.create_connection((smtp_server.host, smtp_server.mx), timeout=10) as raw:
        greeting = raw.recv(4096)
        assert greeting.startswith(b"220 ")
        raw.sendall(b"EHLO peer.remote.example\r\n")
        reply = raw.recv(65536)
    hostname = settings.YUBIN_HOSTNAME.encode()
    size = settings.YUBIN_MESSAGE_SIZE_LIMIT
    assert reply == (
        b"250-" + hostname + b"\r\n250-PIPELINING\r\n250-SIZE %d\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 STARTTLS\r\n" % size
    )


@pytest.mark.parametrize(
    "content",
    [
        b"Subject: plain\r\n\r\nno dots here\r\n",
        b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\nend.\r\n",
        b".Subject-less first line\r\n",
        b"Subject: empty body\r\n\r\n",
    ],
)
def test_stored_wire_facts_match_the_stored_bytes(smtp_server: SmtpPorts, accounts: Any, content: bytes) -> None:
    """The wire facts the SMTP server records from its DATA checks (POP3 sizes, dot-stuffing)
    are those of the bytes it stored, whatever the client's lines; a dot that smtplib stuffs
    comes back as one dot."""
    from store.blobs import wire_facts
    from store.models import Blob

    client = mx(smtp_server)
    client.sendmail("sender@remote.example", ["taro@example.test"], content)
    client.quit()
    blob = Blob.objects.get(pk=Message.objects.get(folder__account=accounts["taro"]).blob_id)
    stored = blob_read(blob.pk)
    assert stored.endswith(content)
    facts = wire_facts(stored)
    assert (blob.wire_size, blob.wire_crlf, blob.wire_dots) == (facts.size, facts.crlf, facts.dots)


def test_unstuffed_dot_line_is_unstuffed(smtp_server: SmtpPorts, accounts: Any) -> None:
    """A client that does not stuff a dot-led line loses that dot (RFC 5321 §4.5.2), and the
    stored facts say no line starts with a dot."""
    from store.models import Blob

    client = mx(smtp_server)
    client.mail("sender@remote.example")
    client.rcpt("taro@example.test")
    assert client.docmd("DATA")[0] == 354
    client.send(b"Subject: sloppy\r\n\r\n.not stuffed\r\n.\r\n")
    assert client.getreply()[0] == 250
    client.quit()
    blob = Blob.objects.get(pk=Message.objects.get(folder__account=accounts["taro"]).blob_id)
    assert blob_read(blob.pk).endswith(b"\r\n\r\nnot stuffed\r\n")
    assert blob.wire_dots is False
