"""The RCPT recipient cache never hides a directory change made in this process, and never
remembers unknown recipients (a new account receives mail at once)."""

from __future__ import annotations

import smtplib
from typing import Any

from store.models import Message
from store.services import account_update, alias_create, alias_update
from tests.agents.smtp.conftest import SmtpPorts

BODY = b"From: a@remote.example\r\nSubject: cache\r\n\r\nhello\r\n"


def rcpt(ports: SmtpPorts, address: str) -> int:
    client = smtplib.SMTP(ports.host, ports.mx, timeout=10)
    client.ehlo("peer.remote.example")
    client.mail("a@remote.example")
    code, _ = client.rcpt(address)
    client.quit()
    return code


def send(ports: SmtpPorts, address: str) -> None:
    client = smtplib.SMTP(ports.host, ports.mx, timeout=10)
    client.sendmail("a@remote.example", [address], BODY)
    client.quit()


def test_new_account_receives_at_once(smtp_server: SmtpPorts, accounts: Any, make_account: Any) -> None:
    """550 for an unknown address, then 250 right after the account is created: no negative caching."""
    assert rcpt(smtp_server, "saburo@example.test") == 550
    saburo = make_account("saburo@example.test")
    assert rcpt(smtp_server, "saburo@example.test") == 250
    send(smtp_server, "saburo@example.test")
    assert Message.objects.filter(folder__account=saburo).count() == 1


def test_directory_changes_clear_remembered_recipients(smtp_server: SmtpPorts, accounts: Any) -> None:
    """A remembered alias expansion gives way at once to the alias's new destinations, and a
    remembered account to its deactivation."""
    alias_create(source="team@example.test", destinations=["taro@example.test"])
    send(smtp_server, "team@example.test")  # team -> taro is now remembered
    alias_update(source="team@example.test", destinations=["hanako@example.test"])
    send(smtp_server, "team@example.test")
    assert Message.objects.filter(folder__account=accounts["taro"]).count() == 1
    assert Message.objects.filter(folder__account=accounts["hanako"]).count() == 1
    assert rcpt(smtp_server, "jiro@example.org") == 250
    account_update(account=accounts["jiro"], is_active=False)
    assert rcpt(smtp_server, "jiro@example.org") == 550
