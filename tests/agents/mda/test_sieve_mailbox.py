"""Sieve "mailbox" (RFC 5490): mailboxexists against the recipient's folders, over a real MX."""

from __future__ import annotations

import smtplib
from typing import Any

from agents.mda.sieve import sieve_validate
from store.models import Message
from store.services.sieve import sieve_script_put

MESSAGE = b"From: <bob@remote.example>\r\nTo: <hanako@example.test>\r\nSubject: s\r\n\r\nhi\r\n"


def test_mailboxexists_parses_only_with_mailbox() -> None:
    assert sieve_validate('require "mailbox"; if mailboxexists "Archive" { keep; }') is None
    assert sieve_validate('if mailboxexists "Archive" { keep; }') is not None


def test_mailboxexists_over_smtp(smtp_server: Any, accounts: Any) -> None:
    """True only when every named folder exists; INBOX by any case, other names exactly."""
    hanako = accounts["hanako"]
    sieve_script_put(
        account=hanako,
        name="rules",
        activate=True,
        content='require ["mailbox", "fileinto", "copy"];\n'
        'if mailboxexists "Archive" { fileinto :copy "Archive"; }\n'
        'if mailboxexists ["Archive", "Nope"] { fileinto :copy "Both"; }\n'
        'if mailboxexists "inbox" { fileinto :copy "Sent"; }\n'
        'if mailboxexists "archive" { fileinto :copy "Drafts"; }\n',
    )
    client = smtplib.SMTP(smtp_server.host, smtp_server.mx, timeout=10)
    client.sendmail("bob@remote.example", ["hanako@example.test"], MESSAGE)
    client.quit()
    folders = sorted(Message.objects.filter(folder__account=hanako).values_list("folder__name", flat=True))
    assert folders == ["Archive", "INBOX", "Sent"]
