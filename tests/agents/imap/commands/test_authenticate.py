"""AUTHENTICATE PLAIN / OAUTHBEARER and LOGIN, with imapclient (as the webmail uses it)."""

import base64

import imapclient
import pytest
from imapclient.exceptions import LoginError

from tests.agents.imap.conftest import ADDRESS
from tests.conftest import PASSWORD


def _issue_token(account):
    from store.services.tokens import token_issue

    return token_issue(account=account)


def test_oauthbearer_with_issued_token(imap):
    """A token issued by the web app logs the webmail in over OAUTHBEARER."""
    token = _issue_token(imap.account)
    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    client.oauthbearer_login(ADDRESS, token)
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()


def test_oauthbearer_wrong_token_fails(imap):
    """A wrong token is refused with AUTHENTICATIONFAILED after the RFC 7628 error challenge."""
    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.oauthbearer_login(ADDRESS, "not-a-token")


def test_oauthbearer_other_address_fails(imap):
    """A token only works for the account it was issued to."""
    token = _issue_token(imap.account)
    raw = imap.raw()
    payload = base64.b64encode(f"n,a=hanako@example.test,\x01auth=Bearer {token}\x01\x01".encode())
    raw.send(b"a1 AUTHENTICATE OAUTHBEARER " + payload + b"\r\n")
    assert raw.line().startswith(b"+ ")
    raw.send(b"\x01\r\n")
    assert raw.line().startswith(b"a1 NO [AUTHENTICATIONFAILED]")


def test_login_wrong_password(imap):
    """LOGIN with a wrong password answers NO [AUTHENTICATIONFAILED] and the session goes on."""
    raw = imap.raw()
    assert raw.command(b"a1", b"LOGIN taro@example.test wrong")[-1].startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    assert raw.command(b"a2", f'LOGIN taro@example.test "{PASSWORD}"'.encode())[-1].startswith(b"a2 OK")


def test_plain_cancel(imap):
    """A "*" continuation cancels AUTHENTICATE with BAD."""
    raw = imap.raw()
    raw.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert raw.line() == b"+ \r\n"
    raw.send(b"*\r\n")
    assert raw.line().startswith(b"a1 BAD")


def test_logindisabled_without_tls(make_account, loop_thread):
    """Off loopback-plaintext, LOGIN is refused before STARTTLS and works after it (IMAPS too)."""
    import imaplib
    import ssl

    from agents.imap.server import ImapServer
    from tests.conftest import free_port

    make_account(ADDRESS)
    server = ImapServer(allow_plaintext_loopback=False)
    port, tls_port = free_port(), free_port()
    loop_thread.run(server.listen("127.0.0.1", port, implicit_tls=False))
    loop_thread.run(server.listen("127.0.0.1", tls_port, implicit_tls=True))
    try:
        client = imaplib.IMAP4("127.0.0.1", port)
        assert "LOGINDISABLED" in client.capabilities and "STARTTLS" in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            client.login(ADDRESS, PASSWORD)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context)
        assert "LOGINDISABLED" not in client.capabilities and "AUTH=PLAIN" in client.capabilities
        assert client.login(ADDRESS, PASSWORD)[0] == "OK"
        secure = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=context)
        assert secure.login(ADDRESS, PASSWORD)[0] == "OK"
    finally:
        loop_thread.run(server.close())
