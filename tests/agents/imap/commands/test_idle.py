"""IDLE (RFC 2177): a second session's changes arrive as EXISTS / FETCH / EXPUNGE."""

import time

import imapclient

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD


def _collect(client, wanted, timeout=2.0):
    """idle_check until a response equal to `wanted` arrives (or the time is up)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and wanted not in seen:
        seen.extend(client.idle_check(timeout=max(deadline - time.monotonic(), 0.01)))
    return seen


def _client(imap):
    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    client.login(ADDRESS, PASSWORD)
    client.select_folder("INBOX")
    return client


def test_idle_sees_delivery_flags_and_expunge(imap):
    """New mail within a second; another session's STORE and EXPUNGE are announced too."""
    imap.deliver(message("one"))
    watcher = _client(imap)
    other = _client(imap)
    watcher.idle()
    started = time.monotonic()
    imap.deliver(message("two"))
    responses = watcher.idle_check(timeout=2)
    assert (2, b"EXISTS") in responses
    assert time.monotonic() - started < 1.0
    other.add_flags([1], [imapclient.SEEN])
    responses = watcher.idle_check(timeout=2)
    assert any(item[0] == 1 and item[1] == b"FETCH" for item in responses)
    other.delete_messages([1])
    other.expunge()
    assert (1, b"EXPUNGE") in _collect(watcher, (1, b"EXPUNGE"))
    watcher.idle_done()
    assert watcher.search() == [2]  # imapclient speaks UIDs


def test_noop_shows_other_session_changes(imap):
    """Without IDLE, NOOP brings a second session's append and expunge."""
    imap.deliver(message("one"))
    first = _client(imap)
    second = _client(imap)
    second.append("INBOX", message("two"))
    assert (2, b"EXISTS") in first.noop()[1]
    second.delete_messages([1])
    second.expunge()
    assert (1, b"EXPUNGE") in first.noop()[1]


def test_fetch_does_not_send_expunge(imap):
    """RFC 3501 §7.4.1: FETCH (by sequence number) is not interrupted by EXPUNGE; NOOP then is."""
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    first = imap.client()
    first.select("INBOX")
    second = imap.client()
    second.select("INBOX")
    second.store("1", "+FLAGS", "(\\Deleted)")
    second.expunge()
    typ, _data = first.fetch("1:2", "(FLAGS)")
    assert typ == "OK"
    assert "EXPUNGE" not in first.untagged_responses
    first.noop()
    assert first.untagged_responses.get("EXPUNGE") == [b"1"]
