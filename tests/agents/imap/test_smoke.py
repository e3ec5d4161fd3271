"""End-to-end basics with imaplib."""

from tests.agents.imap.conftest import message


def test_login_select_fetch(imap):
    """A delivered message is listed, selected and fetched whole."""
    imap.deliver(message("First"))
    client = imap.client()
    typ, data = client.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = client.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    assert b"Subject: First" in data[0][1]
    client.logout()
