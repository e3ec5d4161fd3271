"""Every POP3 command in every state, through poplib against the real server (RFC 1939, RFC 2449)."""

from __future__ import annotations

import poplib

import pytest

from agents.pop3 import replies
from tests.agents.pop3.conftest import sample_message
from tests.conftest import PASSWORD

ADDRESS = "taro@example.test"


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    uids = [deliver(account, sample_message(n)) for n in range(1, 4)]
    return account, uids


def test_greeting_has_no_apop_timestamp(pop3_server):
    """The greeting is +OK without an APOP challenge (APOP is not offered)."""
    client = pop3_server.client()
    assert client.getwelcome() == replies.GREETING.encode()
    with pytest.raises(poplib.error_proto):
        client.apop(ADDRESS, PASSWORD)
    client.quit()


def test_capa_in_authorization_on_loopback(pop3_server):
    """CAPA lists TOP, UIDL, USER, SASL PLAIN, RESP-CODES, AUTH-RESP-CODE, PIPELINING, STLS, IMPLEMENTATION."""
    client = pop3_server.client()
    capabilities = client.capa()
    for name in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
        assert name in capabilities
    assert capabilities["SASL"] == ["PLAIN"]
    assert capabilities["IMPLEMENTATION"] == ["Yubin"]
    client.quit()


def test_capa_in_transaction_drops_login_capabilities(pop3_server, mailbox):
    """After login CAPA no longer offers USER, SASL or STLS but keeps TOP and UIDL."""
    client = pop3_server.login(ADDRESS)
    capabilities = client.capa()
    assert "TOP" in capabilities and "UIDL" in capabilities
    assert "USER" not in capabilities and "SASL" not in capabilities and "STLS" not in capabilities
    client.quit()


def test_user_pass_login_and_stat(pop3_server, mailbox):
    """USER/PASS logs in; STAT gives the count and the summed exact sizes."""
    client = pop3_server.client()
    assert client.user(ADDRESS).startswith(b"+OK")
    assert client.pass_(PASSWORD) == replies.LOGGED_IN.encode()
    expected = sum(len(sample_message(n)) for n in range(1, 4))
    assert client.stat() == (3, expected)
    client.quit()


def test_wrong_password_is_auth_error_and_session_continues(pop3_server, mailbox):
    """A wrong password gets -ERR [AUTH]; the same connection can then log in."""
    client = pop3_server.client()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 3
    client.quit()


def test_three_auth_failures_close_the_connection(pop3_server, mailbox):
    """After three failed logins on one connection the server closes it."""
    client = pop3_server.client()
    for _ in range(3):
        client.user(ADDRESS)
        with pytest.raises(poplib.error_proto):
            client.pass_("wrong")
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.noop()


def test_pass_without_user(pop3_server, mailbox):
    """PASS before USER is refused."""
    client = pop3_server.client()
    with pytest.raises(poplib.error_proto, match="USER first"):
        client.pass_(PASSWORD)
    client.quit()


def test_password_with_spaces(pop3_server, make_account):
    """PASS takes the rest of the line, spaces included (RFC 1939 §7)."""
    make_account("spaced@example.test", password="  two  spaces ")
    client = pop3_server.login("spaced@example.test", "  two  spaces ")
    assert client.stat() == (0, 0)
    client.quit()


def test_auth_plain_with_initial_response(pop3_server, mailbox):
    """AUTH PLAIN with an initial response logs in (RFC 5034)."""
    import base64

    client = pop3_server.client()
    token = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    assert client._shortcmd(f"AUTH PLAIN {token}") == replies.LOGGED_IN.encode()
    assert client.stat()[0] == 3
    client.quit()


def test_auth_plain_with_continuation(pop3_server, mailbox):
    """AUTH PLAIN without initial response asks with "+ " and takes the next line (poplib's SASL)."""
    import base64

    client = pop3_server.client()
    client._putcmd("AUTH PLAIN")
    assert client._getline()[0].rstrip() == b"+"
    token = base64.b64encode(f"{ADDRESS}\0{ADDRESS}\0{PASSWORD}".encode())
    client._putline(token)
    assert client._getresp() == replies.LOGGED_IN.encode()
    client.quit()


def test_auth_cancel_and_bad_base64(pop3_server, mailbox):
    """ "*" cancels AUTH; bad base64 and a foreign authzid are refused; the session continues."""
    import base64

    client = pop3_server.client()
    client._putcmd("AUTH PLAIN")
    client._getline()
    client._putline(b"*")
    with pytest.raises(poplib.error_proto, match="cancelled"):
        client._getresp()
    with pytest.raises(poplib.error_proto, match="Invalid SASL"):
        client._shortcmd("AUTH PLAIN !!!notbase64")
    other = base64.b64encode(f"boss@example.test\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client._shortcmd(f"AUTH PLAIN {other}")
    with pytest.raises(poplib.error_proto, match="Unsupported"):
        client._shortcmd("AUTH CRAM-MD5")
    assert client._longcmd("AUTH")[1] == [b"PLAIN"]
    client.quit()


def test_transaction_commands_refused_before_login(pop3_server):
    """STAT, LIST, RETR, DELE, UIDL, TOP, RSET, NOOP in AUTHORIZATION get -ERR for the state."""
    client = pop3_server.client()
    for command in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0", "RSET", "NOOP"):
        with pytest.raises(poplib.error_proto, match="not valid in this state"):
            client._shortcmd(command)
    client.quit()


def test_authorization_commands_refused_after_login(pop3_server, mailbox):
    """USER, PASS, AUTH and STLS after login get -ERR for the state."""
    client = pop3_server.login(ADDRESS)
    for command in ("USER x", "PASS y", "AUTH PLAIN", "STLS"):
        with pytest.raises(poplib.error_proto, match="not valid in this state"):
            client._shortcmd(command)
    client.quit()


def test_list_uidl_retr_top(pop3_server, mailbox):
    """LIST and UIDL with and without argument; RETR returns the bytes; TOP the header and n lines."""
    account, uids = mailbox
    from store.models import Folder

    uid_validity = Folder.objects.get(account=account, name="INBOX").uid_validity
    client = pop3_server.login(ADDRESS)
    _, scan, _ = client.list()
    assert scan == [f"{n} {len(sample_message(n))}".encode() for n in range(1, 4)]
    assert client.list(2) == f"+OK 2 {len(sample_message(2))}".encode()
    _, ids, _ = client.uidl()
    assert ids == [f"{n} {uid_validity}.{uid}".encode() for n, uid in zip(range(1, 4), uids, strict=True)]
    assert client.uidl(3) == f"+OK 3 {uid_validity}.{uids[2]}".encode()
    response, lines, _ = client.retr(1)
    assert response == f"+OK {len(sample_message(1))} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == sample_message(1)
    _, top, _ = client.top(1, 0)
    assert top[-1] == b"" and top[0] == b"From: sender@example.org" and b"Hello." not in top
    _, top, _ = client.top(1, 5)
    assert top[-1] == b"Hello."
    client.quit()


def test_bad_message_numbers(pop3_server, mailbox):
    """Zero, words, negative and huge message numbers get -ERR and the session continues."""
    client = pop3_server.login(ADDRESS)
    for command in ("RETR 0", "RETR x", "LIST -1", "DELE 4", "TOP 99999999999999999999999999 1", "UIDL 4"):
        with pytest.raises(poplib.error_proto):
            client._shortcmd(command)
    with pytest.raises(poplib.error_proto, match="argument"):
        client._shortcmd("RETR")
    with pytest.raises(poplib.error_proto, match="line count"):
        client._shortcmd("TOP 1 x")
    assert client.noop() == b"+OK"
    client.quit()


def test_dele_rset_and_deleted_messages_hidden(pop3_server, mailbox):
    """DELE hides a message from STAT/LIST/UIDL and refuses RETR of it; RSET brings it back."""
    client = pop3_server.login(ADDRESS)
    assert client.dele(2) == replies.DELE_OK.encode()
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.dele(2)
    assert client.stat()[0] == 2
    assert [line.split()[0] for line in client.list()[1]] == [b"1", b"3"]
    assert [line.split()[0] for line in client.uidl()[1]] == [b"1", b"3"]
    assert client.rset() == b"+OK 1 message restored."
    assert client.stat()[0] == 3
    client.quit()


def test_quit_in_authorization_changes_nothing(pop3_server, mailbox):
    """QUIT before login ends the session with +OK."""
    client = pop3_server.client()
    assert client.quit() == replies.BYE_AUTHORIZATION.encode()


def test_unknown_commands_and_error_budget(pop3_server, mailbox):
    """Unknown commands get -ERR; the twentieth bad command closes the connection."""
    client = pop3_server.client()
    for _ in range(19):
        with pytest.raises(poplib.error_proto, match="Unknown command"):
            client._shortcmd("XYZZY")
    with pytest.raises(poplib.error_proto, match="Too many bad commands"):
        client._shortcmd("XYZZY")
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.noop()


def test_throttled_after_repeated_failures(pop3_server, mailbox):
    """After the shared throttle's limit of failures for an account, even the right password gets
    -ERR [SYS/TEMP] and the connection closes (agents.throttle, shared with every protocol)."""
    from agents.throttle import MAX_FAILURES_PER_ACCOUNT

    failures = 0
    while failures < MAX_FAILURES_PER_ACCOUNT:
        client = pop3_server.client()
        for _ in range(min(3, MAX_FAILURES_PER_ACCOUNT - failures)):
            client.user(ADDRESS)
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
                client.pass_("wrong")
            failures += 1
        client.close()
    client = pop3_server.client()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        client.pass_(PASSWORD)
    client.close()


def test_disabled_account_cannot_log_in(pop3_server, mailbox):
    """A deactivated account is refused like a wrong password."""
    account, _ = mailbox
    account.is_active = False
    account.save()
    client = pop3_server.client()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_(PASSWORD)
    client.quit()
