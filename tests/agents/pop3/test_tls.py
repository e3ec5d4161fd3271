"""STLS (RFC 2595 §4), implicit TLS (RFC 8314) and the no-plaintext-password rule (DESIGN rule 7)."""

from __future__ import annotations

import poplib
import socket

import pytest

from agents.pop3 import replies
from tests.agents.pop3.conftest import insecure_context, sample_message
from tests.conftest import PASSWORD

ADDRESS = "jiro@example.test"


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    deliver(account, sample_message(1))
    return account


@pytest.fixture
def no_plaintext(settings):
    """As on a public address: the loopback exemption switched off."""
    settings.YUBIN_ALLOW_PLAINTEXT_LOOPBACK = False


def test_stls_then_login(pop3_server, mailbox, no_plaintext):
    """STLS upgrades the connection; after it CAPA offers USER and SASL and no STLS; login works."""
    client = pop3_server.client()
    assert client.stls(context=insecure_context()) == replies.STLS_BEGIN.encode()
    capabilities = client.capa()
    assert "STLS" not in capabilities and "USER" in capabilities and capabilities["SASL"] == ["PLAIN"]
    with pytest.raises(poplib.error_proto, match="already active"):
        client._shortcmd("STLS")
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1
    client.quit()


def test_pop3s_implicit_tls(pop3_server, mailbox, no_plaintext):
    """The POP3S port speaks TLS from the first byte and takes passwords; STLS is not offered there."""
    client = pop3_server.tls_client()
    assert "STLS" not in client.capa()
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    _, lines, _ = client.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == sample_message(1)
    client.quit()


def test_no_password_before_tls(pop3_server, mailbox, no_plaintext):
    """Without TLS and without the loopback exemption, CAPA hides USER/SASL; USER, PASS, AUTH are refused."""
    client = pop3_server.client()
    capabilities = client.capa()
    assert "USER" not in capabilities and "SASL" not in capabilities and "STLS" in capabilities
    for command in ("USER " + ADDRESS, "PASS " + PASSWORD, "AUTH PLAIN AHRhcm8AcHc="):
        with pytest.raises(poplib.error_proto, match="Plaintext authentication disallowed"):
            client._shortcmd(command)
    client.quit()


def test_stls_with_pipelined_command_is_refused(pop3_server, no_plaintext):
    """Plaintext pipelined behind STLS (command injection) ends the connection instead of being run."""
    with socket.create_connection((pop3_server.host, pop3_server.port), timeout=5) as raw:
        raw.recv(1024)
        raw.sendall(b"STLS\r\nUSER evil@example.test\r\n")
        answer = b""
        while chunk := raw.recv(1024):
            answer += chunk
    assert answer == (replies.TLS_PIPELINED + "\r\n").encode()
