"""SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) and "$" in later commands, as a raw transcript."""

from tests.agents.imap.conftest import message


def _cmd(raw, tag: bytes, text: bytes) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in raw.command(tag, text)]


def _session(imap, count: int = 5):
    for number in range(1, count + 1):
        imap.deliver(message(f"Message {number}", body=f"body {number}\r\n"))
    raw = imap.raw()
    assert _cmd(raw, b"a", b'LOGIN taro@example.test "correct horse battery staple"')[-1].startswith(b"a OK")
    assert _cmd(raw, b"b", b"SELECT INBOX")[-1].startswith(b"b OK")
    _cmd(raw, b"c", b"STORE 2,4 +FLAGS.SILENT (\\Flagged)")
    return raw


def test_saved_result_feeds_fetch_store_and_search(imap):
    raw = _session(imap)
    # SAVE alone: no ESEARCH answer, only the tagged OK.
    assert _cmd(raw, b"d", b"SEARCH RETURN (SAVE) FLAGGED") == [b"d OK SEARCH completed"]
    assert _cmd(raw, b"e", b"FETCH $ (UID)")[:-1] == [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)"]
    assert _cmd(raw, b"f", b"UID SEARCH $ NOT 4")[0] == b"* SEARCH 2"
    assert _cmd(raw, b"g", b"STORE $ +FLAGS.SILENT (\\Seen)")[-1].startswith(b"g OK")
    assert _cmd(raw, b"h", b"SEARCH SEEN")[0] == b"* SEARCH 2 4"
    # After an expunge "$" holds what is left of it.
    _cmd(raw, b"i", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    _cmd(raw, b"j", b"EXPUNGE")
    assert _cmd(raw, b"k", b"FETCH $ (UID)")[:-1] == [b"* 3 FETCH (UID 4)"]


def test_save_with_min_or_max_keeps_only_those(imap):
    """RFC 5182 §2.1: SAVE with MIN and/or MAX alone saves those messages; with ALL or COUNT, all."""
    raw = _session(imap)
    lines = _cmd(raw, b"d", b"SEARCH RETURN (SAVE MIN) ALL")
    assert lines[0] == b'* ESEARCH (TAG "d") MIN 1'
    assert _cmd(raw, b"e", b"SEARCH $")[0] == b"* SEARCH 1"
    _cmd(raw, b"f", b"SEARCH RETURN (SAVE MIN MAX) ALL")
    assert _cmd(raw, b"g", b"SEARCH $")[0] == b"* SEARCH 1 5"
    _cmd(raw, b"h", b"SEARCH RETURN (SAVE MAX COUNT) ALL")
    assert _cmd(raw, b"i", b"SEARCH $")[0] == b"* SEARCH 1 2 3 4 5"


def test_saved_result_is_reset_by_select_and_failed_search(imap):
    """RFC 5182 §2.1: SELECT or EXAMINE empties "$"; so does a SEARCH with SAVE that fails."""
    raw = _session(imap)
    _cmd(raw, b"d", b"SEARCH RETURN (SAVE) FLAGGED")
    assert _cmd(raw, b"e", b"EXAMINE INBOX")[-1].startswith(b"e OK")
    assert _cmd(raw, b"f", b"SEARCH $")[0] == b"* SEARCH"
    _cmd(raw, b"g", b"SELECT INBOX")
    _cmd(raw, b"h", b"SEARCH RETURN (SAVE) FLAGGED")
    assert _cmd(raw, b"i", b"SEARCH RETURN (SAVE) NOSUCHKEY")[-1].startswith(b"i BAD")
    assert _cmd(raw, b"j", b"SEARCH $")[0] == b"* SEARCH"
    # "$" that is empty is still valid in a sequence set.
    assert _cmd(raw, b"k", b"FETCH $ (UID)") == [b"k OK FETCH completed"]
