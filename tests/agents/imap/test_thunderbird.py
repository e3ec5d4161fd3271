"""Thunderbird 153's first-sync command sequence (STARTTLS, AUTHENTICATE PLAIN, LIST, FETCH, IDLE, APPEND)."""

import base64
import imaplib
import ssl
import threading
import time

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD

HEADER_FIELDS = (
    "BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
    "Newsgroups In-Reply-To Content-Type Reply-To Received)]"
)


def _thunderbird_login(imap):
    client = imaplib.IMAP4(imap.host, imap.port, timeout=10)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.starttls(context)
    typ, caps = client.capability()
    assert b"AUTH=PLAIN" in caps[0] and b"IDLE" in caps[0]
    token = f"\0{ADDRESS}\0{PASSWORD}".encode()
    typ, _ = client.authenticate("PLAIN", lambda _: token)
    assert typ == "OK"
    return client


def test_first_sync_sequence(imap):
    """Every command of the reference transcript succeeds and returns the expected data."""
    for number in range(65):
        imap.deliver(message(f"Message {number}", body=f"Body {number}\r\n"))
    imap.deliver(message("Sent one"), folder="Sent")
    control = _thunderbird_login(imap)
    assert control.namespace()[1] == [b'(("" "/")) NIL NIL']
    typ, data = control.xatom("ID", '("name" "Thunderbird" "version" "153.8.0")')
    assert typ == "OK"
    typ, data = control._simple_command("LIST", "(SUBSCRIBED)", '""', '"*"', "RETURN", "(SPECIAL-USE)")
    listing = control._untagged_response(typ, data, "LIST")[1]
    assert b'(\\HasNoChildren \\Sent \\Subscribed) "/" "Sent"' in listing
    typ, data = control.list('""', "INBOX")
    assert data == [b'(\\HasNoChildren) "/" "INBOX"']

    inbox = _thunderbird_login(imap)
    typ, data = inbox.select('"INBOX"')
    assert data == [b"65"]
    typ, data = inbox.uid("FETCH", "1:*", "(FLAGS)")
    assert len(data) == 65 and data[0] == b"1 (UID 1 FLAGS (\\Recent))"
    typ, data = inbox.uid("FETCH", "1:65", f"(UID RFC822.SIZE FLAGS {HEADER_FIELDS})")
    assert typ == "OK" and len([item for item in data if isinstance(item, tuple)]) == 65
    first = data[0]
    assert b"BODY[HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE MESSAGE-ID" in first[0]
    assert first[1].startswith(b"From: Jiro <jiro@example.org>\r\nTo: taro@example.test\r\nSubject: Message 0\r\n")
    assert first[1].endswith(b"\r\n\r\n")
    assert inbox.noop()[0] == "OK"
    typ, data = inbox.uid("FETCH", "66:*", "(FLAGS)")
    assert typ == "OK"

    # IDLE: a delivery is announced within a second.
    inbox.send(b"A29 IDLE\r\n")
    assert inbox.readline().startswith(b"+ ")
    started = time.monotonic()
    threading.Thread(target=lambda: imap.deliver(message("While idling"))).start()
    assert inbox.readline() == b"* 66 EXISTS\r\n"
    assert time.monotonic() - started < 1.5
    assert inbox.readline() == b"* 66 RECENT\r\n"  # this session holds every message \Recent
    inbox.send(b"DONE\r\n")
    assert inbox.readline().startswith(b"A29 OK")
    typ, data = inbox.uid("FETCH", "1:65", "(UID RFC822.SIZE BODY.PEEK[])")
    assert data[0][1].endswith(b"Body 0\r\n")
    typ, data = inbox.uid("FETCH", "66", f"(UID RFC822.SIZE FLAGS {HEADER_FIELDS})")
    assert b"Subject: While idling" in data[0][1]

    typ, data = control.status('"Drafts"', "(UIDNEXT MESSAGES UNSEEN RECENT)")
    assert data == [b'"Drafts" (UIDNEXT 1 MESSAGES 0 UNSEEN 0 RECENT 0)']

    sent = _thunderbird_login(imap)
    sent.select('"Sent"')
    raw = message("Appended").replace(b"\r\n", b"\r\n")
    typ, data = sent.append('"Sent"', "(\\Seen)", None, raw)
    assert typ == "OK" and b"APPENDUID" in data[0]
    assert sent.untagged_responses.get("EXISTS")[-1] == b"2"  # the appended message is announced
    for client in (control, inbox, sent):
        client.logout()


def test_authenticate_plain_with_initial_response(imap):
    """SASL-IR: AUTHENTICATE PLAIN with the credentials on the command line."""
    raw = imap.raw()
    token = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode())
    lines = raw.command(b"a1", b"AUTHENTICATE PLAIN " + token)
    assert lines[-1].startswith(b"a1 OK [CAPABILITY ")
    raw.close()
