"""ENABLE IMAP4rev2 (RFC 9051): the session speaks revision 2 where it differs from 3501: no
\\Recent flag, no RECENT or [UNSEEN] on SELECT but the mailbox's LIST response, ESEARCH replies."""

from tests.agents.imap.conftest import message

LOGIN = b'LOGIN taro@example.test "correct horse battery staple"'


def _cmd(raw, tag: bytes, text: bytes) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in raw.command(tag, text)]


def test_select_fetch_store_and_search_in_revision_2(imap):
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    raw = imap.raw()
    _cmd(raw, b"a", LOGIN)
    assert _cmd(raw, b"b", b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2", b"b OK ENABLE completed"]
    lines = _cmd(raw, b"c", b"SELECT INBOX")
    assert lines[:4] == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
        b"* 2 EXISTS",
        b'* LIST () "/" "INBOX"',
    ]
    assert not [line for line in lines if b"RECENT" in line or b"[UNSEEN" in line]
    assert lines[-1] == b"c OK [READ-WRITE] SELECT completed"
    assert _cmd(raw, b"d", b"FETCH 1:* (FLAGS)")[:-1] == [b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS ())"]
    assert _cmd(raw, b"e", b"STORE 1 +FLAGS (\\Seen)")[0] == b"* 1 FETCH (FLAGS (\\Seen))"
    assert _cmd(raw, b"f", b"UID SEARCH UNSEEN")[0] == b'* ESEARCH (TAG "f") UID ALL 2'
    # A change made by another session arrives without \Recent too.
    other = imap.client()
    other.select("INBOX")
    other.store("2", "+FLAGS", "(\\Flagged)")
    assert b"* 2 FETCH (UID 2 FLAGS (\\Flagged))" in _cmd(raw, b"g", b"NOOP")
    # Selecting again closes the mailbox first, and says so.
    assert _cmd(raw, b"h", b"EXAMINE INBOX")[0] == b"* OK [CLOSED] Previous mailbox closed"
    # The messages were still taken from later IMAP4rev1 sessions: none is \Recent for them.
    assert imap.client().status("INBOX", "(RECENT)")[1] == [b'"INBOX" (RECENT 0)']


def test_revision_1_session_unchanged(imap):
    imap.deliver(message("one"))
    raw = imap.raw()
    _cmd(raw, b"a", LOGIN)
    lines = _cmd(raw, b"b", b"SELECT INBOX")
    assert b"* 1 RECENT" in lines and b"* OK [UNSEEN 1] First unseen" in lines
    assert not [line for line in lines if line.startswith(b"* LIST")]
    assert _cmd(raw, b"c", b"FETCH 1 (FLAGS)")[0] == b"* 1 FETCH (FLAGS (\\Recent))"
