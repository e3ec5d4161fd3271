"""SMTP smuggling and STARTTLS injection: only CRLF.CRLF ends DATA; bare LF/CR refuse the message;
plaintext pipelined after STARTTLS is never executed (RFC 5321 §2.3.8, §4.1.1.4; RFC 3207 §6)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.smtp import codes
from store.models import Message
from tests.agents.smtp.conftest import SmtpPorts, client_tls
from tests.agents.smtp.wire import Wire


def open_mx(ports: SmtpPorts) -> Wire:
    wire = Wire(ports.host, ports.mx)
    assert wire.reply().startswith("220 ")
    assert wire.command("EHLO attacker.example").startswith("250-")
    return wire


SMUGGLED = b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<hanako@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r.\r"],
    ids=["lf-dot-lf", "lf-dot-crlf", "crlf-dot-lf", "cr-dot-crlf", "crlf-dot-cr", "cr-dot-cr"],
)
def test_fake_end_of_data_never_splits_a_message(smtp_server: SmtpPorts, accounts: Any, fake_end: bytes) -> None:
    """A non-CRLF end-of-data is not an end: the whole thing is one message, refused for bare LF/CR."""
    wire = open_mx(smtp_server)
    assert wire.command("MAIL FROM:<sender@remote.example>").startswith("250")
    assert wire.command("RCPT TO:<hanako@example.test>").startswith("250")
    assert wire.command("DATA").startswith("354")
    wire.send(b"Subject: first\r\n\r\nbody" + fake_end + SMUGGLED + b".\r\n")
    assert wire.reply() == codes.BARE_LINEFEED_DATA
    assert wire.command("QUIT").startswith("221")
    assert Message.objects.count() == 0


def test_bare_lf_in_body_refused(smtp_server: SmtpPorts, accounts: Any) -> None:
    """A bare LF anywhere in DATA refuses the message with 550 5.5.2; the session continues."""
    wire = open_mx(smtp_server)
    wire.command("MAIL FROM:<sender@remote.example>")
    wire.command("RCPT TO:<hanako@example.test>")
    wire.command("DATA")
    wire.send(b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n")
    assert wire.reply() == codes.BARE_LINEFEED_DATA
    assert wire.command("NOOP").startswith("250")


def test_bare_lf_command_refused(smtp_server: SmtpPorts, accounts: Any) -> None:
    """A command line ending in bare LF is refused (500 5.5.2), never executed."""
    wire = open_mx(smtp_server)
    wire.send(b"MAIL FROM:<sender@remote.example>\n")
    assert wire.reply() == codes.BARE_LINEFEED_COMMAND
    assert wire.command("RCPT TO:<hanako@example.test>") == codes.NEED_MAIL


def test_proper_message_and_pipelined_commands_after_dot(smtp_server: SmtpPorts, accounts: Any) -> None:
    """Dot-stuffed lines are unstuffed; commands pipelined after CRLF.CRLF run in order (RFC 2920)."""
    wire = open_mx(smtp_server)
    wire.send(b"MAIL FROM:<sender@remote.example>\r\nRCPT TO:<hanako@example.test>\r\nDATA\r\n")
    assert wire.reply().startswith("250")
    assert wire.reply().startswith("250")
    assert wire.reply().startswith("354")
    wire.send(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\nNOOP\r\nQUIT\r\n")
    assert wire.reply().startswith("250 2.0.0 OK")
    assert wire.reply() == codes.OK
    assert wire.reply().startswith("221")
    from store.blobs import blob_read

    stored = blob_read(Message.objects.get().blob_id)
    assert stored.endswith(b"Subject: dots\r\n\r\n.leading dot\r\n")


def test_starttls_injection_discarded(smtp_server: SmtpPorts, accounts: Any) -> None:
    """Commands sent in the same packet as STARTTLS are dropped; inside TLS the session starts fresh."""
    wire = Wire(smtp_server.host, smtp_server.submission)
    wire.reply()
    wire.command("EHLO client.example")
    wire.send(b"STARTTLS\r\nMAIL FROM:<taro@example.test>\r\n")
    assert wire.reply() == codes.READY_TLS
    wire.starttls(client_tls())
    # Had the injected MAIL survived, a reply to it would come before the EHLO reply.
    reply = wire.command("EHLO client.example")
    assert reply.startswith(f"250-{'mail.test'}"), reply
    assert wire.command("RCPT TO:<hanako@example.test>") == codes.NEED_MAIL


def test_size_limit_enforced_while_reading(smtp_server: SmtpPorts, accounts: Any, settings: Any) -> None:
    """A message larger than SIZE is answered 552 5.3.4 after its end, and nothing is stored."""
    wire = open_mx(smtp_server)
    limit = settings.YUBIN_MESSAGE_SIZE_LIMIT
    assert wire.command(f"MAIL FROM:<sender@remote.example> SIZE={limit + 1}") == codes.MESSAGE_TOO_BIG.format(
        limit=limit
    )
    wire.command("MAIL FROM:<sender@remote.example>")
    wire.command("RCPT TO:<hanako@example.test>")
    wire.command("DATA")
    line = b"x" * 998 + b"\r\n"
    chunk = line * 1024
    sent = 0
    while sent <= limit:
        wire.send(chunk)
        sent += len(chunk)
    wire.send(b".\r\n")
    assert wire.reply() == codes.MESSAGE_TOO_BIG.format(limit=limit)
    assert Message.objects.count() == 0


def test_error_budget_closes_session(smtp_server: SmtpPorts, accounts: Any, settings: Any) -> None:
    """After YUBIN_SMTP_MAX_ERRORS errors the server says 421 and closes."""
    wire = open_mx(smtp_server)
    for _ in range(settings.YUBIN_SMTP_MAX_ERRORS - 1):
        assert wire.command("BOGUS").startswith("500")
    wire.send(b"BOGUS\r\n")
    assert wire.reply().startswith("500")
    assert wire.reply() == codes.TOO_MANY_ERRORS.format(hostname="mail.test")
    assert wire.closed()


def test_size_in_other_scripts_digits_is_a_syntax_error(smtp_server: SmtpPorts, accounts: Any) -> None:
    """SIZE=² or SIZE=١ (digits to str.isdigit, not to int()): 501, and the session goes on."""
    wire = open_mx(smtp_server)
    for value in ("²", "١"):
        assert wire.command(f"MAIL FROM:<sender@remote.example> SIZE={value}") == codes.ARGUMENT_SYNTAX.format(
            usage="SIZE=<number>"
        )
    assert wire.command("MAIL FROM:<sender@remote.example> SIZE=100").startswith("250 ")
