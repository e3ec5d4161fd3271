"""STORE (with CONDSTORE), COPY / MOVE with COPYUID, EXPUNGE / UID EXPUNGE, APPEND with APPENDUID."""

from tests.agents.imap.conftest import message


def test_store_modes_and_silent(imap):
    """+FLAGS / -FLAGS / FLAGS with keywords; .SILENT sends nothing."""
    imap.deliver(message("a"))
    client = imap.client()
    client.select("INBOX")
    # The first session to see the message also sees \Recent (RFC 3501 §2.3.2).
    assert client.store("1", "+FLAGS", "(\\Flagged $Label1)")[1] == [b"1 (FLAGS (\\Flagged \\Recent $Label1))"]
    assert client.store("1", "-FLAGS", "(\\Flagged)")[1] == [b"1 (FLAGS (\\Recent $Label1))"]
    assert client.store("1", "FLAGS.SILENT", "(\\Seen)")[1] == [None]
    assert client.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Seen \\Recent))"]


def test_store_that_changes_nothing_keeps_modseq_and_answers_the_flags(imap):
    """Setting flags a message already has, or removing ones it lacks, changes nothing: the
    FETCH answer shows the flags and the message's MODSEQ stays (RFC 7162 §3.1.3)."""
    imap.deliver(message("a"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX (CONDSTORE)")
    first = raw.command(b"c", b"STORE 1 +FLAGS (\\Seen $Done)")[0]
    assert first.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent $Done) MODSEQ (")
    for tag, command in ((b"d", b"STORE 1 +FLAGS (\\Seen)"), (b"e", b"STORE 1 -FLAGS (\\Flagged $Other)")):
        assert raw.command(tag, command)[0] == first
    assert raw.command(b"f", b"STORE 1 FLAGS (\\Seen $Done)")[0] == first
    assert raw.command(b"g", b"STORE 1 +FLAGS.SILENT (\\Seen)") == [b"g OK STORE completed\r\n"]


def test_store_after_a_change_by_another_process_writes_it(imap):
    """A session's STORE that its own copy of the folder would find already done is written when
    the store changed since that copy was read (another agents process, here the test's own
    database connection): the change must not be lost."""
    from store.models import Flag, Folder, Message
    from store.services import flags_set

    imap.deliver(message("a"))
    client = imap.client()
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Seen)")
    client.noop()  # the process's copy of the folder now shows \Seen
    inbox = Folder.objects.get(account=imap.account, name="INBOX")
    flags_set(folder_id=inbox.pk, uids=[1], mode="remove", flags=Flag.SEEN)  # as another process
    client.store("1", "+FLAGS.SILENT", "(\\Seen)")
    assert Message.objects.get(folder=inbox, uid=1).flags & Flag.SEEN


def test_store_unchangedsince(imap):
    """CONDSTORE: a STORE with an old UNCHANGEDSINCE fails with MODIFIED."""
    imap.deliver(message("a"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX (CONDSTORE)")
    lines = raw.command(b"c", b"STORE 1 +FLAGS (\\Seen)")
    assert lines[0].startswith(b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (")
    lines = raw.command(b"d", b"STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)")
    assert lines[-1].startswith(b"d OK [MODIFIED 1]")


def test_store_silent_under_condstore_tells_the_new_modseq(imap):
    """RFC 7162 §3.1.3: with CONDSTORE on, a .SILENT STORE still sends each changed message's
    UID and new MODSEQ (so a client's cache stays current), and nothing for one it did not change;
    without CONDSTORE .SILENT sends nothing."""
    imap.deliver(message("a"))
    imap.deliver(message("b"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    assert raw.command(b"c", b"STORE 1 +FLAGS.SILENT (\\Seen)") == [b"c OK STORE completed\r\n"]
    before = _modseq(raw.command(b"d", b"FETCH 2 (MODSEQ)")[-2])
    lines = raw.command(b"e", b"STORE 1:2 +FLAGS.SILENT (\\Seen)")
    assert len(lines) == 2 and lines[0].startswith(b"* 2 FETCH (UID 2 MODSEQ (")
    after = _modseq(lines[0])
    assert after > before and lines[1] == b"e OK STORE completed\r\n"
    assert _modseq(raw.command(b"f", b"FETCH 2 (MODSEQ)")[0]) == after
    lines = raw.command(b"g", b"UID STORE 2 (UNCHANGEDSINCE %d) -FLAGS.SILENT (\\Seen)" % after)
    assert len(lines) == 2 and lines[0].startswith(b"* 2 FETCH (UID 2 MODSEQ (") and _modseq(lines[0]) > after
    assert lines[1] == b"g OK STORE completed\r\n"


def _modseq(line: bytes) -> int:
    return int(line.split(b"MODSEQ (")[1].split(b")")[0])


def test_copy_move_uidplus(imap):
    """COPY answers COPYUID; MOVE sends COPYUID untagged then EXPUNGE."""
    imap.deliver(message("a"))
    imap.deliver(message("b"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    lines = raw.command(b"c", b"COPY 1:2 Archive")
    assert lines[-1].startswith(b"c OK [COPYUID ") and lines[-1].split(b" ")[4:6] == [b"1:2", b"1:2]"]
    lines = raw.command(b"d", b"UID MOVE 1 Trash")
    assert lines[0].startswith(b"* OK [COPYUID ") and b" 1 1]" in lines[0]
    assert lines[1] == b"* 1 EXPUNGE\r\n"
    assert raw.command(b"e", b"COPY 1 Nowhere")[-1].startswith(b"e NO [TRYCREATE]")


def test_expunge_and_uid_expunge(imap):
    """EXPUNGE removes \\Deleted; UID EXPUNGE only the given UIDs."""
    for name in "abc":
        imap.deliver(message(name))
    client = imap.client()
    client.select("INBOX")
    client.store("1:3", "+FLAGS", "(\\Deleted)")
    client.uid("EXPUNGE", "2")
    assert client.untagged_responses.pop("EXPUNGE") == [b"2"]
    _typ, data = client.expunge()
    assert data == [b"2", b"1"]
    assert client.select("INBOX")[1] == [b"0"]


def test_append_literal_plus_and_limits(imap, settings):
    """LITERAL+ appends without a continuation; too big is refused with TOOBIG; missing folder TRYCREATE."""
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    body = message("plus")
    raw.send(b"b APPEND INBOX (\\Seen) {%d+}\r\n" % len(body) + body + b"\r\n")
    assert raw.until_tagged(b"b")[-1].startswith(b"b OK [APPENDUID ")
    settings.YUBIN_MESSAGE_SIZE_LIMIT = 100
    raw.send(b"c APPEND INBOX {500}\r\n")
    assert raw.line().startswith(b"c NO [TOOBIG]")
    raw.send(b"d APPEND Nowhere {1+}\r\nx\r\n")
    assert raw.until_tagged(b"d")[-1].startswith(b"d NO [TRYCREATE]")


def test_store_read_only(imap):
    """STORE in EXAMINE is refused."""
    imap.deliver(message("a"))
    client = imap.client()
    client.select("INBOX", readonly=True)
    typ, data = client.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO" and data[0].startswith(b"[READ-ONLY]")
