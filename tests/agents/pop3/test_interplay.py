"""POP3 and the rest of the system: IMAP sessions see POP3's deletions, UIDL matches IMAP's UIDs,
a POP3 login opens the POP-before-SMTP window when it is configured."""

from __future__ import annotations

import imaplib
import re

import pytest

from tests.agents.pop3.conftest import sample_message
from tests.conftest import PASSWORD, free_port

ADDRESS = "rokuro@example.test"


@pytest.fixture
def imap_server(loop_thread, pop3_server):
    from agents.imap.server import ImapServer

    server = ImapServer(allow_plaintext_loopback=True)
    port = free_port()
    loop_thread.run(server.listen("127.0.0.1", port, implicit_tls=False))
    yield port
    loop_thread.run(server.close())


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    return account, [deliver(account, sample_message(n)) for n in range(1, 5)]


def test_uidl_is_imap_uidvalidity_and_uid(pop3_server, imap_server, mailbox):
    """Each UIDL is "<UIDVALIDITY>.<UID>" exactly as an IMAP client sees the same message."""
    imap = imaplib.IMAP4("127.0.0.1", imap_server, timeout=10)
    imap.login(ADDRESS, PASSWORD)
    imap.select("INBOX")
    uid_validity = imap.response("UIDVALIDITY")[1][0].decode()
    _, data = imap.uid("SEARCH", "ALL")
    imap_uids = data[0].decode().split()
    imap.logout()
    pop = pop3_server.login(ADDRESS)
    pop_ids = [line.split()[1].decode() for line in pop.uidl()[1]]
    pop.quit()
    assert pop_ids == [f"{uid_validity}.{uid}" for uid in imap_uids]


def test_pop3_deletion_seen_as_expunge_by_imap_session(pop3_server, imap_server, mailbox):
    """An IMAP session with INBOX selected gets EXPUNGE for messages deleted over POP3 at QUIT,
    and nothing before QUIT."""
    imap = imaplib.IMAP4("127.0.0.1", imap_server, timeout=10)
    imap.login(ADDRESS, PASSWORD)
    assert imap.select("INBOX") == ("OK", [b"4"])
    pop = pop3_server.login(ADDRESS)
    pop.dele(2)
    pop.dele(3)
    imap.noop()
    assert imap.response("EXPUNGE") == ("EXPUNGE", [None])
    pop.quit()
    imap.noop()
    _, expunged = imap.response("EXPUNGE")
    assert [int(number) for number in expunged] in ([3, 2], [2, 2])  # RFC 3501 §7.4.1 either order
    _, data = imap.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    _, fetched = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [re.search(rb"message (\d+)", part[1]).group(1) for part in fetched if isinstance(part, tuple)]
    assert subjects == [b"1", b"4"]
    imap.logout()


def test_imap_flag_changes_do_not_disturb_pop3(pop3_server, imap_server, mailbox):
    """IMAP flag changes during a POP3 session change nothing POP3 reports (snapshot)."""
    pop = pop3_server.login(ADDRESS)
    before = pop.list()[1]
    imap = imaplib.IMAP4("127.0.0.1", imap_server, timeout=10)
    imap.login(ADDRESS, PASSWORD)
    imap.select("INBOX")
    imap.store("1:*", "+FLAGS", "\\Flagged")
    imap.logout()
    assert pop.list()[1] == before
    pop.quit()


def test_pop3_login_opens_pop_before_smtp_window(pop3_server, mailbox, settings):
    """With YUBIN_POP_BEFORE_SMTP_MINUTES set, a POP3 login lets the client's address submit."""
    from agents.popbeforesmtp import pbs_allowed

    settings.YUBIN_POP_BEFORE_SMTP_MINUTES = 5
    assert pbs_allowed("127.0.0.1") is None
    pop = pop3_server.login(ADDRESS)
    pop.quit()
    assert pbs_allowed("127.0.0.1") == ADDRESS


def test_pop_before_smtp_off_by_default(pop3_server, mailbox):
    """Without the setting a POP3 login records nothing."""
    from agents.popbeforesmtp import pbs_allowed

    pop = pop3_server.login(ADDRESS)
    pop.quit()
    assert pbs_allowed("127.0.0.1") is None
