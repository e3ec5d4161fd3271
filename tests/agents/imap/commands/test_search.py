"""SEARCH on every key family, answered from the index (text) and the view (flags, sets)."""

from tests.agents.imap.conftest import message


def _setup(imap):
    imap.deliver(message("Quarterly report", body="numbers inside\r\n", Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    imap.deliver(
        "From: 山田 <yamada@example.jp>\r\nTo: taro@example.test\r\nSubject: =?UTF-8?B?5Lya6K2w44Gu5qGI5YaF?=\r\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "明日の会議は十時からです。\r\n".encode()
    )
    imap.deliver(message("Lunch", body="x" * 5000, sender="boss@example.com", Date="Wed, 03 Jan 2024 10:00:00 +0000"))
    client = imap.client()
    client.select("INBOX")
    client.store("3", "+FLAGS", "(\\Flagged)")
    return client


def _search(client, *criteria, charset=None):
    typ, data = client.search(charset, *criteria)
    assert typ == "OK"
    return [int(n) for n in data[0].split()]


def test_text_keys(imap):
    """SUBJECT / BODY / TEXT / FROM are case-insensitive substrings, Japanese included."""
    client = _setup(imap)
    assert _search(client, "SUBJECT", "QUARTERLY") == [1]
    assert _search(client, "BODY", "Numbers") == [1]
    assert _search(client, "TEXT", "boss@") == [3]
    assert _search(client, "FROM", "yamada") == [2]
    client.literal = "会議".encode()
    assert _search(client, "CHARSET", "UTF-8", "SUBJECT") == [2]
    client.literal = "十時から".encode()
    assert _search(client, "CHARSET", "UTF-8", "BODY") == [2]
    assert _search(client, "SUBJECT", "nothing-like-this") == []
    assert _search(client, "HEADER", "Subject", "lunch") == [3]


def test_flag_date_size_and_boolean_keys(imap):
    """Flags, dates, sizes, sets, NOT and OR combine as RFC 3501 §6.4.4 says."""
    client = _setup(imap)
    assert _search(client, "FLAGGED") == [3]
    assert _search(client, "UNFLAGGED") == [1, 2]
    assert _search(client, "SENTSINCE", "02-Jan-2024") == [2, 3]
    assert _search(client, "SENTBEFORE", "02-Jan-2024") == [1]
    assert _search(client, "LARGER", "1000") == [3]
    assert _search(client, "NOT", "LARGER", "1000") == [1, 2]
    assert _search(client, "OR", "FLAGGED", "1") == [1, 3]
    assert _search(client, "2:*", "UNFLAGGED") == [2]
    _typ, data = client.uid("SEARCH", "UID", "2:3")
    assert data == [b"2 3"]


def test_esearch_and_bad_charset(imap):
    """SEARCH RETURN (MIN MAX COUNT ALL) answers ESEARCH; an unknown charset is BADCHARSET."""
    client = _setup(imap)
    typ, data = client._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
    assert client.untagged_responses.pop("ESEARCH")[0].endswith(b"MIN 1 MAX 3 ALL 1:3 COUNT 3")
    typ, data = client._simple_command("SEARCH", "CHARSET", "KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
