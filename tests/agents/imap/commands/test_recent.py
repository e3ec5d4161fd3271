"""\\Recent (RFC 3501 §2.3.2): the first session told about a message sees it \\Recent, no other.

SELECT's RECENT count, FETCH FLAGS, SEARCH RECENT / NEW / OLD, STATUS RECENT and new mail arriving
while a folder is selected; EXAMINE looks without taking the messages from the next session.
"""

import imaplib
import re

import pytest

from tests.agents.imap.conftest import message


def _recent_count(client) -> int:
    return int(client.untagged_responses["RECENT"][-1])


def _flags(client, uid_set: str = "1:*") -> dict[int, bytes]:
    _typ, data = client.uid("FETCH", uid_set, "(FLAGS)")
    found = {}
    for line in data:
        match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
        if match:
            found[int(match.group(1))] = match.group(2)
    return found


def test_first_select_takes_recent_and_the_next_does_not_see_it(imap):
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    assert imap.client().status("INBOX", "(RECENT MESSAGES)")[1] == [b'"INBOX" (RECENT 2 MESSAGES 2)']

    first = imap.client()
    first.select("INBOX")
    assert _recent_count(first) == 2
    assert _flags(first) == {1: b"\\Recent", 2: b"\\Recent"}
    assert first.uid("SEARCH", "RECENT")[1] == [b"1 2"]
    assert first.uid("SEARCH", "NEW")[1] == [b"1 2"]
    assert first.uid("SEARCH", "OLD")[1] == [b""]

    second = imap.client()
    second.select("INBOX")
    assert _recent_count(second) == 0
    assert _flags(second) == {1: b"", 2: b""}
    assert second.uid("SEARCH", "RECENT")[1] == [b""]
    assert second.uid("SEARCH", "OLD")[1] == [b"1 2"]
    assert second.status("INBOX", "(RECENT)")[1] == [b'"INBOX" (RECENT 0)']


def test_examine_sees_recent_without_taking_it(imap):
    imap.deliver(message("one"))
    looker = imap.client()
    looker.select("INBOX", readonly=True)
    assert _recent_count(looker) == 1
    assert _flags(looker) == {1: b"\\Recent"}

    owner = imap.client()
    owner.select("INBOX")
    assert _recent_count(owner) == 1


def test_new_mail_while_selected_is_recent_in_one_session(imap):
    first = imap.client()
    first.select("INBOX")
    second = imap.client()
    second.select("INBOX")
    imap.deliver(message("arrived"))
    first.noop()
    assert first.untagged_responses["EXISTS"][-1] == b"1"
    assert first.uid("SEARCH", "RECENT")[1] == [b"1"]
    second.noop()
    assert second.uid("SEARCH", "RECENT")[1] == [b""]
    # NEW is RECENT and UNSEEN: reading the message keeps \Recent but ends NEW.
    first.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    assert _flags(first) == {1: b"\\Seen \\Recent"}
    assert first.uid("SEARCH", "NEW")[1] == [b""]
    assert first.uid("SEARCH", "RECENT")[1] == [b"1"]


def test_new_mail_is_told_with_exists_and_recent(imap):
    """RFC 3501 §7.3.2: when new messages arrive, the session hears EXISTS and the new RECENT
    count (the second session, which took none, hears RECENT 0); IMAP4rev2 has no RECENT."""
    imap.deliver(message("old"))
    raws = []
    for enable in (b"", b"ENABLE IMAP4rev2"):
        raw = imap.raw()
        raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
        if enable:
            raw.command(b"e", enable)
        raw.command(b"b", b"SELECT INBOX")
        raws.append(raw)
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    assert raws[0].command(b"c", b"NOOP") == [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n", b"c OK NOOP completed\r\n"]
    assert raws[1].command(b"c", b"NOOP") == [b"* 3 EXISTS\r\n", b"c OK NOOP completed\r\n"]
    other = imap.raw()
    other.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    other.command(b"b", b"SELECT INBOX")
    imap.deliver(message("three"))
    assert raws[0].command(b"d", b"NOOP") == [b"* 4 EXISTS\r\n", b"* 4 RECENT\r\n", b"d OK NOOP completed\r\n"]
    assert other.command(b"c", b"NOOP") == [b"* 4 EXISTS\r\n", b"* 0 RECENT\r\n", b"c OK NOOP completed\r\n"]


def test_recent_in_runs_shows_on_exactly_its_messages(imap):
    """A session's \\Recent messages need not be one run: FETCH FLAGS shows it on each of them,
    whether the fetched set lies inside a run, between two, or across both."""
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    first = imap.client()
    first.select("INBOX")  # takes 1 and 2
    second = imap.client()
    second.select("INBOX")
    imap.deliver(message("three"))
    second.noop()  # told first: takes 3
    imap.deliver(message("four"))
    first.noop()  # takes 4
    recent, plain = b"\\Recent", b""
    assert _flags(first) == {1: recent, 2: recent, 3: plain, 4: recent}
    assert _flags(first, "3") == {3: plain}
    assert _flags(first, "1:2") == {1: recent, 2: recent}
    assert _flags(first, "2:3") == {2: recent, 3: plain}
    assert _flags(first, "3:4") == {3: plain, 4: recent}
    second.noop()
    assert _flags(second) == {1: plain, 2: plain, 3: recent, 4: plain}


def test_recent_cannot_be_stored_and_ends_with_the_session(imap):
    imap.deliver(message("one"))
    client = imap.client()
    client.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="Recent cannot be set"):
        client.uid("STORE", "1", "+FLAGS", "(\\Recent)")
    client.logout()
    again = imap.client()
    again.select("INBOX")
    assert _recent_count(again) == 0
    assert _flags(again) == {1: b""}


def test_claim_reaches_the_store_for_other_processes(imap):
    """The claiming session does not wait for the store, but the store learns of the claim, so a
    session of another agents process (which reads the folder's row) does not see it \\Recent."""
    import time

    from store.models import Folder

    imap.deliver(message("one"))
    imap.deliver(message("two"))
    client = imap.client()
    client.select("INBOX")
    deadline = time.monotonic() + 5
    while Folder.objects.get(account=imap.account, name="INBOX").recent_uid != 3:
        assert time.monotonic() < deadline, "the claim never reached the store"
        time.sleep(0.02)


def test_claims_of_new_mail_while_selected_reach_the_store_in_turn(imap):
    """Each claim of one folder is stored after the one before (a claim made while another waits
    for the writer joins it): the store ends at the last UID any session was told of."""
    import time

    from store.models import Folder

    imap.deliver(message("one"))
    client = imap.client()
    client.select("INBOX")
    for round_ in range(3):
        for n in range(2):
            imap.deliver(message(f"round {round_} {n}"))
        client.noop()
    assert client.uid("SEARCH", "RECENT")[1] == [b"1 2 3 4 5 6 7"]
    deadline = time.monotonic() + 5
    while Folder.objects.get(account=imap.account, name="INBOX").recent_uid != 8:
        assert time.monotonic() < deadline, "the last claim never reached the store"
        time.sleep(0.02)
    other = imap.client()
    other.select("INBOX")
    assert other.uid("SEARCH", "RECENT")[1] == [b""]


def test_folder_dropped_from_the_process_cache_keeps_old_mail_not_recent(imap):
    """The process's folder cache is bounded: a session whose folder was dropped from it still
    knows which messages another process claimed, and shows only the new one \\Recent."""
    from agents.imap.view import FEEDS
    from store.models import Folder
    from store.services import folder_recent_claim

    imap.deliver(message("old"))
    inbox = Folder.objects.get(account=imap.account, name="INBOX")
    assert folder_recent_claim(folder_id=inbox.pk, upto_uid=1) == (1, 1)  # as another process would
    client = imap.client()
    client.select("INBOX")
    assert _recent_count(client) == 0
    FEEDS.clear()
    imap.deliver(message("new"))
    client.noop()
    assert client.uid("SEARCH", "RECENT")[1] == [b"2"]
    assert _flags(client) == {1: b"", 2: b"\\Recent"}
