"""CONDSTORE (RFC 7162 §3.1): enabling commands while a mailbox is selected, and the MODSEQ that
ESEARCH reports with MIN and MAX."""

import re

import pytest

from tests.agents.imap.conftest import message

LOGIN = b'LOGIN taro@example.test "correct horse battery staple"'


def _session(imap, messages: int = 0):
    for number in range(messages):
        imap.deliver(message(f"m{number}"))
    raw = imap.raw()
    raw.command(b"a", LOGIN)
    raw.command(b"b", b"SELECT INBOX")
    return raw


def _highest(lines: list[bytes]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.match(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", line))]


@pytest.mark.parametrize(
    "command",
    [
        b"FETCH 1 (MODSEQ)",
        b"SEARCH MODSEQ 1",
        b"STORE 1 (UNCHANGEDSINCE 100) +FLAGS (x)",
        b"STATUS INBOX (HIGHESTMODSEQ)",
    ],
)
def test_first_enabling_command_while_selected_tells_highestmodseq_once(imap, command):
    """Dovecot's behaviour, which imaptest checks: the first CONDSTORE enabling command sent with a
    mailbox selected answers the mailbox's HIGHESTMODSEQ first; later ones do not repeat it."""
    raw = _session(imap, 1)
    status = raw.command(b"s", b"STATUS INBOX (MESSAGES)")  # not an enabling command
    assert _highest(status) == []
    lines = raw.command(b"c", command)
    assert lines[-1].startswith(b"c OK")
    highest = _highest(lines)
    assert len(highest) == 1 and lines[0].startswith(b"* OK [HIGHESTMODSEQ ")
    assert highest[0] >= 1
    assert _highest(raw.command(b"d", b"FETCH 1 (MODSEQ)")) == []


def test_enabling_command_before_select_sends_nothing_extra(imap):
    raw = imap.raw()
    raw.command(b"a", LOGIN)
    assert raw.command(b"b", b"STATUS INBOX (HIGHESTMODSEQ)")[0].startswith(b'* STATUS "INBOX" (HIGHESTMODSEQ ')
    lines = raw.command(b"c", b"SELECT INBOX")
    assert len(_highest(lines)) == 1  # SELECT's own
    assert _highest(raw.command(b"d", b"FETCH 1:* (MODSEQ)")) == []


def test_esearch_modseq_is_that_of_the_messages_reported(imap):
    """RFC 7162 §3.1.5: ESEARCH's MODSEQ is the highest of the messages it reports: with MIN or
    MAX alone only those, with ALL or COUNT every match."""
    raw = _session(imap, 4)
    raw.command(b"c", b"ENABLE CONDSTORE")
    modseqs = {}
    for number in (1, 3, 2, 4):  # message 2 changes after message 3
        line = raw.command(b"s%d" % number, b"STORE %d +FLAGS (\\Seen)" % number)[0]
        modseqs[number] = int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))
    query = b'RETURN (%s) 1:3 MODSEQ "/flags/\\\\seen" all 1'

    def esearch(options: bytes) -> bytes:
        return raw.command(b"t", b"SEARCH " + query % options)[0]

    assert esearch(b"MIN") == b'* ESEARCH (TAG "t") MIN 1 MODSEQ %d\r\n' % modseqs[1]
    assert esearch(b"MAX") == b'* ESEARCH (TAG "t") MAX 3 MODSEQ %d\r\n' % modseqs[3]
    assert esearch(b"MIN MAX") == b'* ESEARCH (TAG "t") MIN 1 MAX 3 MODSEQ %d\r\n' % max(modseqs[1], modseqs[3])
    assert esearch(b"ALL") == b'* ESEARCH (TAG "t") ALL 1:3 MODSEQ %d\r\n' % modseqs[2]
    assert esearch(b"COUNT") == b'* ESEARCH (TAG "t") COUNT 3 MODSEQ %d\r\n' % modseqs[2]
