"""Maildrop semantics: exclusive lock, snapshot at login, deletions only in UPDATE (RFC 1939 §6, §8)."""

from __future__ import annotations

import poplib
import socket
import time

import pytest

from agents.pop3 import replies
from tests.agents.pop3.conftest import sample_message

ADDRESS = "hanako@example.test"


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    uids = [deliver(account, sample_message(n)) for n in range(1, 6)]
    return account, uids


def inbox_uids(account) -> list[int]:
    from store.models import Message

    return list(Message.objects.filter(folder__account=account, folder__name="INBOX").values_list("uid", flat=True))


def test_second_session_gets_in_use(pop3_server, mailbox):
    """While one session holds the maildrop, a second login gets -ERR [IN-USE] and may retry later."""
    first = pop3_server.login(ADDRESS)
    second = pop3_server.client()
    second.user(ADDRESS)
    with pytest.raises(poplib.error_proto) as refused:
        second.pass_("correct horse battery staple")
    assert str(refused.value.args[0], "ascii") == replies.IN_USE
    first.quit()
    second.user(ADDRESS)
    second.pass_("correct horse battery staple")
    assert second.stat()[0] == 5
    second.quit()


def test_lock_released_when_connection_drops(pop3_server, mailbox):
    """A dropped connection frees the maildrop for the next session."""
    first = pop3_server.login(ADDRESS)
    first.close()  # no QUIT
    deadline = time.monotonic() + 5
    while True:
        try:
            second = pop3_server.login(ADDRESS)
            break
        except poplib.error_proto:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    second.quit()


def test_lock_held_by_another_process_means_in_use(pop3_server, mailbox, subprocess_env):
    """A live lock taken by another process (another agents host) makes this login IN-USE."""
    import subprocess
    import sys

    account, _ = mailbox
    script = (
        "import django; django.setup()\n"
        "from store.services.pop3 import maildrop_lock_acquire\n"
        f"assert maildrop_lock_acquire(account_id={account.pk}, token='other-host', ttl_seconds=60)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=subprocess_env, check=True, timeout=60)
    client = pop3_server.client()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        client.pass_("correct horse battery staple")
    client.quit()


def test_expired_lock_of_a_crashed_holder_is_taken_over(pop3_server, mailbox):
    """A lock whose holder died (no refresh until it expired) no longer blocks the maildrop."""
    from store.services.pop3 import maildrop_lock_acquire

    account, _ = mailbox
    assert maildrop_lock_acquire(account_id=account.pk, token="crashed", ttl_seconds=-1)
    client = pop3_server.login(ADDRESS)
    assert client.stat()[0] == 5
    client.quit()


def test_deletions_apply_only_at_quit(pop3_server, mailbox):
    """DELE changes nothing in the store until QUIT; then exactly the deleted messages go."""
    account, uids = mailbox
    client = pop3_server.login(ADDRESS)
    client.dele(1)
    client.dele(4)
    assert inbox_uids(account) == uids
    assert client.quit() == b"+OK Logging out, 3 messages left."
    assert inbox_uids(account) == [uids[1], uids[2], uids[4]]


def test_dropped_connection_deletes_nothing(pop3_server, mailbox):
    """A connection that ends without QUIT never enters UPDATE: nothing is removed."""
    account, uids = mailbox
    client = pop3_server.login(ADDRESS)
    client.dele(1)
    client.dele(2)
    client.sock.shutdown(socket.SHUT_RDWR)
    client.close()
    again = None
    deadline = time.monotonic() + 5
    while again is None:
        try:
            again = pop3_server.login(ADDRESS)
        except poplib.error_proto:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert again.stat()[0] == 5
    again.quit()
    assert inbox_uids(account) == uids


def test_rset_then_quit_keeps_everything(pop3_server, mailbox):
    """DELE then RSET then QUIT leaves the maildrop as it was."""
    account, uids = mailbox
    client = pop3_server.login(ADDRESS)
    client.dele(3)
    client.rset()
    client.quit()
    assert inbox_uids(account) == uids


def test_mail_arriving_during_session_is_not_shown(pop3_server, mailbox, deliver):
    """The maildrop is the INBOX at login: later mail is invisible to the session, seen by the next."""
    account, uids = mailbox
    client = pop3_server.login(ADDRESS)
    new_uid = deliver(account, sample_message(99))
    assert client.stat()[0] == 5
    assert len(client.list()[1]) == 5
    with pytest.raises(poplib.error_proto, match="no message 6"):
        client.retr(6)
    client.dele(1)
    client.quit()
    assert inbox_uids(account) == [*uids[1:], new_uid]
    again = pop3_server.login(ADDRESS)
    assert again.stat()[0] == 5
    assert again.uidl(5).endswith(f".{new_uid}".encode())
    again.quit()


def test_message_expunged_elsewhere_during_session(pop3_server, mailbox):
    """A message another client expunges mid-session cannot break QUIT: the rest is still applied."""
    from store.models import Flag, Folder
    from store.services import flags_set, messages_expunge

    account, uids = mailbox
    folder = Folder.objects.get(account=account, name="INBOX")
    client = pop3_server.login(ADDRESS)
    flags_set(folder_id=folder.pk, uids=[uids[0]], mode="add", flags=Flag.DELETED)
    messages_expunge(folder_id=folder.pk, uids=[uids[0]])
    client.dele(1)
    client.dele(2)
    assert client.quit().startswith(b"+OK")
    assert inbox_uids(account) == uids[2:]


def test_quit_marks_retrieved_messages_seen_and_keeps_other_flags(pop3_server, mailbox):
    """Messages RETR'd and kept get \\Seen at QUIT; untouched ones keep their flags."""
    from store.models import Flag, Message

    account, uids = mailbox
    client = pop3_server.login(ADDRESS)
    client.retr(2)
    client.top(3, 0)
    client.quit()
    flags = dict(Message.objects.filter(folder__account=account).values_list("uid", "flags"))
    assert flags[uids[1]] & Flag.SEEN
    assert not flags[uids[2]] & Flag.SEEN
    assert not flags[uids[0]] & Flag.SEEN


def test_uidl_stable_across_sessions_and_after_deletions(pop3_server, mailbox):
    """A message keeps its unique id in later sessions even when earlier messages are deleted."""
    client = pop3_server.login(ADDRESS)
    before = dict(line.split() for line in client.uidl()[1])
    client.dele(1)
    client.quit()
    client = pop3_server.login(ADDRESS)
    after = [line.split()[1] for line in client.uidl()[1]]
    client.quit()
    assert after == [before[str(n).encode()] for n in range(2, 6)]


def test_deletion_is_visible_to_imap_semantics(pop3_server, mailbox):
    """A POP3 deletion is an IMAP expunge: the UIDs land in Expunged with a new MODSEQ, and a change
    event is published for IDLE sessions."""
    from store.changes import subscribe
    from store.models import Expunged, Folder

    account, uids = mailbox
    folder = Folder.objects.get(account=account, name="INBOX")
    modseq_before = folder.highest_modseq
    events = []
    unsubscribe = subscribe(events.append)
    try:
        client = pop3_server.login(ADDRESS)
        client.dele(2)
        client.quit()
    finally:
        unsubscribe()
    folder.refresh_from_db()
    assert folder.highest_modseq > modseq_before
    assert folder.message_count == 4
    assert list(Expunged.objects.filter(folder=folder).values_list("uid", flat=True)) == [uids[1]]
    assert any(e.kind == "expunge" and e.folder_id == folder.pk for e in events)


def _bytes_lose(digest: str) -> None:
    """The stored bytes of a blob vanish (a file removed by hand, a row by a broken restore)."""
    from store.blobs import blob_path
    from store.models import BlobData

    blob_path(digest).unlink(missing_ok=True)
    BlobData.objects.filter(pk=digest).delete()


def test_missing_blob_gets_temporary_error(pop3_server, make_account, deliver):
    """A message whose bytes have gone gets -ERR [SYS/TEMP] on RETR and TOP; the others still download."""
    from store.models import Message

    account = make_account("lost@example.test")
    deliver(account, sample_message(1, b"first\r\n"))
    deliver(account, sample_message(2, b"second\r\n"))
    lost = Message.objects.get(folder__account=account, uid=1)
    _bytes_lose(lost.blob_id)
    client = pop3_server.login("lost@example.test")
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        client.retr(1)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        client.top(1, 0)
    assert client.retr(2)[1][-1] == b"second"
    client.quit()


WIRE_CASES = [
    b"Subject: clean\r\n\r\nplain CRLF body\r\n",
    b"Subject: dots\r\n\r\n.leading\r\n",
    b"Subject: bare LF\n\nline\n",
    b"Subject: unterminated\r\n\r\nlast",
]


def test_blob_rows_record_wire_facts(make_account, deliver):
    """Delivery records each blob's POP3 size, whether it is already CRLF and whether it has dot-led lines."""
    from store.models import Blob, Message

    account = make_account(ADDRESS)
    for raw in WIRE_CASES:
        deliver(account, raw)
    rows = Message.objects.filter(folder__account=account).order_by("uid")
    facts = [Blob.objects.values_list("wire_size", "wire_crlf", "wire_dots").get(pk=m.blob_id) for m in rows]
    assert facts == [
        (len(WIRE_CASES[0]), True, False),
        (len(WIRE_CASES[1]), True, True),
        (len(WIRE_CASES[2]) + 3, False, False),
        (len(WIRE_CASES[3]) + 2, False, False),
    ]


def test_login_reads_no_message_file(pop3_server, make_account, deliver):
    """LIST sizes come from the blob rows: with a message's bytes gone, login and LIST still give the
    exact CRLF sizes (only RETR of that message fails, with -ERR)."""
    from store.models import Message

    account = make_account(ADDRESS)
    for raw in WIRE_CASES:
        deliver(account, raw)
    gone = Message.objects.filter(folder__account=account, uid=3).get().blob_id
    _bytes_lose(gone)
    client = pop3_server.login(ADDRESS)
    _, listing, _ = client.list()
    expected = [len(WIRE_CASES[0]), len(WIRE_CASES[1]), len(WIRE_CASES[2]) + 3, len(WIRE_CASES[3]) + 2]
    assert [int(line.split()[1]) for line in listing] == expected
    with pytest.raises(poplib.error_proto):
        client.retr(3)
    assert client.retr(1)[1] == [b"Subject: clean", b"", b"plain CRLF body"]
    client.quit()


def test_old_blob_rows_get_wire_facts_at_first_login(pop3_server, make_account, deliver):
    """Blobs stored before the wire columns existed are read once at the first login, their facts
    kept, and the sizes and bytes are exact."""
    from store.models import Blob, Message

    account = make_account(ADDRESS)
    for raw in WIRE_CASES:
        deliver(account, raw)
    Blob.objects.update(wire_size=None, wire_crlf=None, wire_dots=None)
    client = pop3_server.login(ADDRESS)
    count, total = client.stat()
    assert (count, total) == (4, sum(len(raw) for raw in WIRE_CASES) + 5)
    assert client.retr(2)[1] == [b"Subject: dots", b"", b".leading"]
    assert client.retr(3)[1] == [b"Subject: bare LF", b"", b"line"]
    client.quit()
    blob_ids = Message.objects.filter(folder__account=account).values_list("blob_id", flat=True)
    assert not Blob.objects.filter(pk__in=list(blob_ids), wire_size__isnull=True).exists()


def test_stopping_the_server_gives_back_open_sessions_locks(loop_thread, mailbox, transactional_db):
    """When the agents process stops, its open sessions' maildrops are free at once, not IN-USE
    until their locks expire (the sessions never reached UPDATE, so nothing was deleted)."""
    from agents.pop3.server import pop3_servers_start
    from store.models import MaildropLock
    from tests.conftest import free_port

    account, uids = mailbox
    port = free_port()
    (listener,) = loop_thread.run(pop3_servers_start(host="127.0.0.1", port=port, tls_port=0))
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.user(ADDRESS)
    client.pass_("correct horse battery staple")
    client.dele(1)
    assert MaildropLock.objects.filter(account_id=account.pk).exists()

    async def stop() -> None:
        listener.server.close()
        await listener.server.wait_closed()

    loop_thread.run(stop())
    assert not MaildropLock.objects.filter(account_id=account.pk).exists()
    assert inbox_uids(account) == uids
    client.close()


def test_retr_and_top_alike_from_a_file_and_from_the_database(pop3_server, make_account, deliver, settings):
    """A message kept in the database (YUBIN_BLOB_INLINE_MAX) and one kept in a file download alike:
    RETR (read on the loop or, on PostgreSQL, on a thread), TOP, and the streamed path of a large one."""
    from agents.pop3 import commands
    from store.blobs import blob_path
    from store.models import Message

    account = make_account(ADDRESS)
    raws = [b"Subject: %d\r\n\r\n.dot line\r\nbody\n" % n for n in range(2)]
    settings.YUBIN_BLOB_INLINE_MAX = 0
    deliver(account, raws[0])
    settings.YUBIN_BLOB_INLINE_MAX = 128 * 1024
    deliver(account, raws[1])
    stored = Message.objects.filter(folder__account=account).order_by("uid")
    assert [blob_path(m.blob_id).exists() for m in stored] == [True, False]
    for inline_read_limit in (commands.INLINE_READ_LIMIT, 0):  # 0: every message takes the streamed path
        commands.INLINE_READ_LIMIT, saved = inline_read_limit, commands.INLINE_READ_LIMIT
        try:
            client = pop3_server.login(ADDRESS)
            for number in (1, 2):
                subject = b"Subject: %d" % (number - 1)
                assert client.retr(number)[1] == [subject, b"", b".dot line", b"body"]
                assert client.top(number, 1)[1] == [subject, b"", b".dot line"]
            client.quit()
        finally:
            commands.INLINE_READ_LIMIT = saved
