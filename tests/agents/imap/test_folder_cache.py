"""The per-folder caches (agents.imap.folder_cache, agents.imap.view) never answer from stale data.

SORT, header SEARCH and FETCH ENVELOPE/BODYSTRUCTURE/INTERNALDATE/RFC822.SIZE are served from
memory once a folder is loaded; new deliveries, expunges and other sessions must show through.
"""

import subprocess
import sys

import imapclient
import pytest

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD


def _client(imap):
    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    client.login(ADDRESS, PASSWORD)
    client.select_folder("INBOX")
    return client


def test_new_delivery_reaches_sort_search_and_fetch(imap):
    """A message delivered after the cache was filled is sorted, found and fetched."""
    imap.deliver(message("alpha", Date="Tue, 02 Jan 2024 10:00:00 +0000"))
    imap.deliver(message("beta", Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    client = _client(imap)
    assert client.sort(["DATE"]) == [2, 1]
    assert client.search(["SUBJECT", "ALPHA"]) == [1]
    imap.deliver(message("Gamma ray", Date="Sun, 31 Dec 2023 10:00:00 +0000", sender="zed@example.org"))
    client.noop()
    assert client.sort(["DATE"]) == [3, 2, 1]
    assert client.sort(["REVERSE", "DATE"]) == [1, 2, 3]
    assert client.search(["SUBJECT", "gamma"]) == [3]
    assert client.search(["FROM", "ZED@"]) == [3]
    fetched = client.fetch([3], ["ENVELOPE", "RFC822.SIZE", "BODYSTRUCTURE"])[3]
    assert fetched[b"ENVELOPE"].subject == b"Gamma ray"
    assert fetched[b"RFC822.SIZE"] == len(
        message("Gamma ray", Date="Sun, 31 Dec 2023 10:00:00 +0000", sender="zed@example.org")
    )


def test_expunged_messages_leave_the_answers(imap):
    """After EXPUNGE the cached order and search skip the gone message and renumber the rest."""
    for name in ("one", "two", "three"):
        imap.deliver(message(name))
    client = _client(imap)
    assert client.sort(["SUBJECT"]) == [1, 3, 2]
    client.add_flags([1], [imapclient.DELETED])
    client.expunge()
    assert client.sort(["SUBJECT"]) == [3, 2]  # UIDs
    assert client.search(["SUBJECT", "one"]) == []
    assert client.search(["SUBJECT", "t"]) == [2, 3]
    client.use_uid = False
    assert client.sort(["SUBJECT"]) == [2, 1]  # sequence numbers after the expunge
    assert client.search(["SUBJECT", "t"]) == [1, 2]
    client.use_uid = True
    uids = client.search(["ALL"])
    assert [client.fetch(uids, ["ENVELOPE"])[u][b"ENVELOPE"].subject for u in uids] == [b"two", b"three"]


def test_other_session_expunge_keeps_sequence_numbers_until_announced(imap):
    """A second session's expunge does not shift this session's SORT numbers before EXPUNGE is sent."""
    for name in ("c", "a", "b"):
        imap.deliver(message(name))
    first = _client(imap)
    first.use_uid = False
    assert first.sort(["SUBJECT"]) == [2, 3, 1]
    second = _client(imap)
    second.add_flags([2], [imapclient.DELETED])
    second.expunge()
    # SORT may not announce EXPUNGE (RFC 3501 §7.4.1): numbers still those the client knows.
    assert first.sort(["SUBJECT"]) in ([2, 3, 1], [3, 1])
    first.noop()
    assert first.sort(["SUBJECT"]) == [2, 1]


def test_header_search_is_case_insensitive_and_handles_japanese(imap):
    """SUBJECT / FROM / TO match substrings case-insensitively, also in decoded Japanese subjects."""
    imap.deliver(message("=?UTF-8?B?5Lya6K2w44Gu6K2w5LqL6Yyy?=", sender="Boss@Example.ORG"))
    imap.deliver(message("Weekly REPORT"))
    client = _client(imap)
    assert client.search(["SUBJECT", "議事"], charset="UTF-8") == [1]
    assert client.search(["SUBJECT", "report"]) == [2]
    assert client.search(["FROM", "boss@example.org"]) == [1]
    assert client.search(["TO", "TARO"]) == [1, 2]
    assert client.search(["NOT", "SUBJECT", "weekly"]) == [1]
    assert client.search(["OR", "SUBJECT", "weekly", "FROM", "boss"]) == [1, 2]


def test_sort_ties_stay_in_uid_order_when_reversed(imap):
    """REVERSE reverses the key only; equal keys keep ascending order (RFC 5256 §3)."""
    for _ in range(3):
        imap.deliver(message("same", Date="Mon, 01 Jan 2024 10:00:00 +0000", body=f"{_}\r\n"))
    imap.deliver(message("later", Date="Tue, 02 Jan 2024 10:00:00 +0000"))
    client = _client(imap)
    assert client.sort(["REVERSE", "DATE"]) == [4, 1, 2, 3]
    assert client.sort(["REVERSE", "SUBJECT", "DATE"]) == [1, 2, 3, 4]


def _in_another_process(env: dict[str, str], code: str) -> None:
    script = "import django; django.setup()\n" + code
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_warm_select_shows_what_another_process_just_committed(imap, subprocess_env):
    """SELECT and NOOP answered from this process's memory still show, at once, a delivery and a
    flag change committed by another process a moment before (no change event has reached us yet)."""
    imap.deliver(message("one"))
    client = _client(imap)
    watcher = _client(imap)
    assert client.select_folder("INBOX")[b"EXISTS"] == 1
    assert client.select_folder("INBOX")[b"EXISTS"] == 1  # warm: from memory
    watcher.noop()  # nothing committed since: from memory
    _in_another_process(
        subprocess_env,
        "from store.models import Account, Flag, Folder\n"
        "from store.services import DeliveryTarget, flags_set, message_deliver\n"
        f"account = Account.objects.get(address={ADDRESS!r})\n"
        "inbox = Folder.objects.get(account=account, name='INBOX')\n"
        "flags_set(folder_id=inbox.pk, uids=[1], mode='add', flags=Flag.FLAGGED)\n"
        f"message_deliver(raw={message('two')!r}, targets=[DeliveryTarget(account_id=account.pk)])\n",
    )
    _, untagged = watcher.noop()  # must read the store: the change came from elsewhere
    assert (2, b"EXISTS") in untagged
    assert any(isinstance(item, tuple) and item[1] == b"FETCH" for item in untagged)
    selected = client.select_folder("INBOX")
    assert selected[b"EXISTS"] == 2
    assert selected[b"UIDNEXT"] == 3
    assert client.get_flags([1])[1] == (imapclient.FLAGGED,)


def test_warm_select_of_a_folder_renamed_by_another_process(imap, subprocess_env):
    """After another process renames the folder, SELECT of the old name fails at once."""
    imap.deliver(message("kept"), folder="Work", create_folder=True)
    client = _client(imap)
    client.select_folder("Work")
    client.select_folder("Work")
    _in_another_process(
        subprocess_env,
        "from store.models import Account\n"
        "from store.services import folder_rename\n"
        f"account = Account.objects.get(address={ADDRESS!r})\n"
        "folder_rename(account=account, old_name='Work', new_name='Done')\n",
    )
    with pytest.raises(imapclient.exceptions.IMAPClientError):
        client.select_folder("Work")
    assert client.select_folder("Done")[b"EXISTS"] == 1


def test_session_far_behind_the_kept_changes_reads_its_own(imap):
    """A session that missed more changes than the process keeps (FEED_DELTAS) still gets every
    one right at its next NOOP: the flags, the new message and the expunge."""
    from agents.imap.view import FEED_DELTAS

    for name in ("one", "two", "three"):
        imap.deliver(message(name))
    behind = _client(imap)
    busy = _client(imap)
    for round_number in range(FEED_DELTAS + 7):
        if round_number % 2:
            busy.remove_flags([1], [imapclient.FLAGGED])
        else:
            busy.add_flags([1], [imapclient.FLAGGED])
        busy.noop()
    busy.add_flags([2], [imapclient.DELETED])
    busy.expunge()
    imap.deliver(message("four"))
    busy.noop()
    behind.noop()
    assert behind.search(["ALL"]) == [1, 3, 4]
    # behind selected first, so 1-3 are \Recent in it; busy heard of 4 first and took it.
    assert behind.get_flags([1, 3, 4]) == {1: (imapclient.FLAGGED, imapclient.RECENT), 3: (imapclient.RECENT,), 4: ()}


def test_bytes_cache_drops_the_oldest_beyond_its_limit():
    """The FETCH answer caches keep the newest entries within their byte limit; a key put again
    is replaced (its old cost given back), and one entry larger than the limit is still kept."""
    from agents.imap.folder_cache import BytesCache

    cache: BytesCache[str, bytes] = BytesCache(limit=100)
    for key in "abcd":
        cache.put(key, key.encode(), 30)
    assert [cache.get(key) for key in "abcd"] == [None, b"b", b"c", b"d"]
    cache.put("b", b"B", 10)  # replaced, and now the newest: 30 + 30 + 10 bytes
    cache.put("e", b"e", 30)  # 100 bytes: at the limit, nothing dropped
    assert [cache.get(key) for key in "bcde"] == [b"B", b"c", b"d", b"e"]
    cache.put("huge", b"h", 500)
    assert [cache.get(key) for key in "bcde"] == [None] * 4 and cache.get("huge") == b"h"
    cache.clear()
    assert cache.get("huge") is None
