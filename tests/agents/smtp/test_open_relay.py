"""Open-relay attempts on the MX: every classic trick is refused, none reaches the queue."""

from __future__ import annotations

from typing import Any

import pytest

from agents.smtp import codes
from store.models import OutboundMessage
from tests.agents.smtp.conftest import SmtpPorts
from tests.agents.smtp.wire import Wire

ATTEMPTS = [
    ("plain remote", "<victim@remote.example>", codes.RELAY_DENIED),
    ("percent hack", "<victim%remote.example@example.test>", codes.NO_SUCH_USER),
    ("percent hack, bracketed", "<victim%remote.example@[127.0.0.1]>", codes.RELAY_DENIED),
    ("source route", "<@example.test:victim@remote.example>", codes.ADDRESS_SYNTAX),
    ("source route, two hops", "<@example.test,@mx.test:victim@remote.example>", codes.ADDRESS_SYNTAX),
    ("quoted @", '<"victim@remote.example"@example.test>', codes.NO_SUCH_USER),
    ("quoted @ with route", '<"victim@remote.example">', codes.ADDRESS_SYNTAX),
    ("bang path", "<remote.example!victim@example.test>", codes.NO_SUCH_USER),
    ("bang path alone", "<remote.example!victim>", codes.ADDRESS_SYNTAX),
    ("ip literal", "<victim@[127.0.0.1]>", codes.RELAY_DENIED),
    ("ipv6 literal", "<victim@[IPv6:::1]>", codes.RELAY_DENIED),
    ("trailing dot local", "<hanako@example.test.>", codes.ADDRESS_SYNTAX),
    ("trailing dot remote", "<victim@remote.example.>", codes.ADDRESS_SYNTAX),
    ("case variant remote", "<victim@REMOTE.Example>", codes.RELAY_DENIED),
    ("local domain suffix", "<victim@example.test.remote.example>", codes.RELAY_DENIED),
    ("no brackets", "victim@remote.example", codes.ADDRESS_SYNTAX),
    ("unknown local user", "<nobody@example.test>", codes.NO_SUCH_USER),
]


@pytest.mark.parametrize(("label", "path", "expected"), ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_relay_attempt_refused(smtp_server: SmtpPorts, accounts: Any, label: str, path: str, expected: str) -> None:
    """The MX answers RCPT with the expected refusal and queues nothing."""
    wire = Wire(smtp_server.host, smtp_server.mx)
    wire.reply()
    wire.command("EHLO attacker.example")
    assert wire.command("MAIL FROM:<spammer@remote.example>").startswith("250")
    assert wire.command(f"RCPT TO:{path}") == expected
    assert wire.command("DATA") == codes.NEED_RCPT
    wire.close()
    assert OutboundMessage.objects.count() == 0


def test_case_variant_local_accepted(smtp_server: SmtpPorts, accounts: Any) -> None:
    """Local parts and domains are case-insensitive for local accounts."""
    wire = Wire(smtp_server.host, smtp_server.mx)
    wire.reply()
    wire.command("EHLO peer.example")
    wire.command("MAIL FROM:<someone@remote.example>")
    assert wire.command("RCPT TO:<HaNaKo@EXAMPLE.test>") == codes.OK_RECIPIENT


def test_vrfy_and_expn_reveal_nothing(smtp_server: SmtpPorts, accounts: Any) -> None:
    """VRFY gives the same 252 for existing and missing users; EXPN is not available."""
    wire = Wire(smtp_server.host, smtp_server.mx)
    wire.reply()
    wire.command("EHLO peer.example")
    assert wire.command("VRFY hanako@example.test") == wire.command("VRFY nobody@example.test") == codes.VRFY_REPLY
    assert wire.command("EXPN staff@example.test") == codes.EXPN_DISABLED


def test_auth_not_offered_on_mx(smtp_server: SmtpPorts, accounts: Any) -> None:
    """The MX never offers AUTH, so it cannot be used to relay with stolen passwords."""
    wire = Wire(smtp_server.host, smtp_server.mx)
    wire.reply()
    assert "AUTH" not in wire.command("EHLO peer.example")
    assert wire.command("AUTH PLAIN AHRhcm9AZXhhbXBsZS50ZXN0AHg=") == codes.AUTH_NOT_ON_MX
