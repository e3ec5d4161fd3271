"""FETCH: structures from the stored parse, sections and partials from blob offsets, \\Seen on BODY[]."""

from tests.agents.imap.conftest import message

MULTIPART = (
    b"From: Jiro <jiro@example.org>\r\nTo: taro@example.test\r\nSubject: parts\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    b"--b1\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=a.bin\r\n\r\nAAEC\r\n--b1--\r\n"
)


def test_bodystructure_envelope_exact(imap):
    """BODYSTRUCTURE and ENVELOPE bytes match RFC 3501 §7.4.2."""
    imap.deliver(MULTIPART)
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    lines = raw.command(b"c", b"FETCH 1 (BODYSTRUCTURE ENVELOPE)")
    assert lines[0] == (
        b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)'
        b'("APPLICATION" "OCTET-STREAM" ("NAME" "a.bin") NIL NIL "BASE64" 4 NIL ("ATTACHMENT" ("FILENAME" "a.bin"))'
        b' NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL) ENVELOPE (NIL "parts" (("Jiro" NIL "jiro" "example.org"))'
        b' (("Jiro" NIL "jiro" "example.org")) (("Jiro" NIL "jiro" "example.org")) ((NIL NIL "taro" "example.test"))'
        b" NIL NIL NIL NIL))\r\n"
    )
    assert lines[-1] == b"c OK FETCH completed\r\n"


def test_sections_partial_binary_and_seen(imap):
    """BODY[1], BODY[2.MIME], BODY[]<0.4>, BINARY[2] and BINARY.SIZE; BODY[] sets \\Seen."""
    imap.deliver(MULTIPART)
    client = imap.client()
    client.select("INBOX")
    _typ, data = client.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<0.4> BINARY.PEEK[2] BINARY.SIZE[2])")
    items = [part for part in data if isinstance(part, tuple)]
    assert items[0][1] == b"hello"
    assert items[1][1].startswith(b"Content-Type: application/octet-stream")
    assert items[2][1] == b"From"
    assert items[3][1] == b"\x00\x01\x02"
    assert b"BINARY.SIZE[2] 3" in data[-1]
    assert client.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Recent))"]
    _typ, data = client.fetch("1", "(BODY[TEXT])")
    assert b"FLAGS (\\Seen \\Recent)" in data[0][0] + data[-1]


def test_fetch_that_sets_seen_under_condstore_tells_uid_and_modseq(imap):
    """RFC 7162 §3.1: once CONDSTORE is on, the FETCH that sets \\Seen implicitly carries the
    message's UID and new MODSEQ, so the client's cache learns the change."""
    imap.deliver(message("a", body="body one\r\n"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX (CONDSTORE)")
    lines = raw.command(b"c", b"FETCH 1 (BODY[TEXT])")
    modseq = raw.command(b"d", b"FETCH 1 (MODSEQ)")[0]
    assert modseq.startswith(b"* 1 FETCH (MODSEQ (") and modseq.endswith(b")\r\n")
    item = modseq[len(b"* 1 FETCH (") : -3]
    assert lines[0] == b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) " + item + b" BODY[TEXT] {10}\r\n"


NESTED = (
    b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: user2@domain.org\r\nMime-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n"
)
DIGEST_INSIDE = (
    b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
    b'From: sub@domain.org\r\nContent-Type: multipart/digest; boundary="foo"\r\n\r\n'
    b"--foo\r\n\r\nFrom: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n"
    b"--foo\r\nX-Mime: m2 header\r\n\r\nFrom: m2@example.com\r\nSubject: m2\r\n\r\nm2 body\r\n"
    b"--foo--\r\n"
)


def _section(client, number: str, section: str) -> bytes | None:
    _typ, data = client.fetch(number, f"(BODY.PEEK[{section}])")
    return data[0][1] if isinstance(data[0], tuple) else None


def test_sections_inside_encapsulated_messages(imap):
    """RFC 3501 §6.4.5: after the first number, a message/rfc822 part's numbers address the parts
    of the message it holds: "1.1" of a message/rfc822 message is its inner message's body
    (imaptest's fetch-body-message-rfc822-x2 and -mime scripts, which Dovecot passes)."""
    imap.deliver(NESTED)
    imap.deliver(DIGEST_INSIDE)
    client = imap.client()
    client.select("INBOX")
    inner = b"From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n"
    assert _section(client, "1", "1") == NESTED[NESTED.index(b"From: user2") :]
    assert _section(client, "1", "1.1") == inner
    assert _section(client, "1", "1.1.1") == b"Hello world\r\n"
    assert _section(client, "1", "1.1.HEADER") == b"From: sub@domain.org\r\nSubject: submsg\r\n\r\n"
    assert _section(client, "1", "1.1.TEXT") == b"Hello world\r\n"
    assert _section(client, "2", "1.1") == b"From: m1@example.com\r\nSubject: m1\r\n\r\nm1 body"
    assert _section(client, "2", "1.2.MIME") == b"X-Mime: m2 header\r\n\r\n"
    assert _section(client, "2", "1.2.HEADER") == b"From: m2@example.com\r\nSubject: m2\r\n\r\n"
    assert _section(client, "2", "1.2.TEXT") == b"m2 body"


def test_binary_of_the_whole_message(imap):
    """RFC 3516: BINARY[] is the whole message (nothing to decode), BINARY.SIZE[] its size."""
    imap.deliver(MULTIPART)
    client = imap.client()
    client.select("INBOX")
    whole = _section(client, "1", "")
    _typ, data = client.fetch("1", "(BINARY.PEEK[] BINARY.SIZE[])")
    assert data[0][1] == whole and data[0][0].startswith(b"1 (BINARY[] {%d}" % len(whole))
    assert b"BINARY.SIZE[] %d" % len(whole) in data[0][0] + data[1]


def test_fetch_read_only_does_not_set_seen(imap):
    """EXAMINE: BODY[] leaves flags alone."""
    imap.deliver(MULTIPART)
    client = imap.client()
    client.select("INBOX", readonly=True)
    client.fetch("1", "(BODY[])")
    assert client.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Recent))"]


def test_fetch_bad_items(imap):
    """Unknown items and bad sections get BAD; the session goes on."""
    imap.deliver(MULTIPART)
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    assert raw.command(b"c", b"FETCH 1 (NOPE)")[-1].startswith(b"c BAD")
    assert raw.command(b"d", b"FETCH 1 BODY[HEADER.FIELDS]")[-1].startswith(b"d BAD")
    assert raw.command(b"e", b"FETCH 5 FLAGS")[-1].startswith(b"e BAD")
    assert raw.command(b"f", b"UID FETCH 5:* FLAGS")[-1].startswith(b"f OK")
    assert raw.command(b"g", b"FETCH 1 (UID)")[0] == b"* 1 FETCH (UID 1)\r\n"


FORWARDED = (
    b"From: Jiro <jiro@example.org>\r\nTo: taro@example.test\r\nSubject: fwd\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: Saburo <saburo@example.org>\r\nSubject: inner\r\nX-Note: kept\r\n\r\ninner body\r\n"
    b"--b1--\r\n"
)


def test_header_fields_same_answer_every_time(imap):
    """HEADER.FIELDS and HEADER.FIELDS.NOT of the message and of an attached message: the second
    and third asks (answered from the header cache) are byte for byte the first."""
    imap.deliver(FORWARDED)
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    asks = [
        (b"BODY.PEEK[HEADER.FIELDS (subject FROM)]", b"From: Jiro <jiro@example.org>\r\nSubject: fwd\r\n\r\n"),
        (b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]", b"Subject: fwd\r\n\r\n"),
        (b"BODY.PEEK[2.HEADER.FIELDS (Subject)]", b"Subject: inner\r\n\r\n"),
        (b"BODY.PEEK[2.HEADER.FIELDS.NOT (From Subject)]", b"X-Note: kept\r\n\r\n"),
    ]
    for round_number in range(3):
        for number, (item, expected) in enumerate(asks):
            tag = b"f%d%d" % (round_number, number)
            lines = raw.command(tag, b"FETCH 1 (" + item + b")")
            assert lines[-1].startswith(tag + b" OK")
            answer = b"".join(lines[:-1])
            assert b"{%d}\r\n" % len(expected) + expected in answer, (item, answer)


def test_the_same_items_answer_alike_whatever_was_asked_before(imap):
    """Item lists are parsed once and reused: what a UID FETCH, a CHANGEDSINCE or a BODY[] adds
    to its own request (UID, MODSEQ, FLAGS) never shows in a later FETCH of the same items."""
    imap.deliver(MULTIPART)
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    first = raw.command(b"c", b"FETCH 1 (RFC822.SIZE)")
    raw.command(b"d", b"UID FETCH 1 (RFC822.SIZE)")
    raw.command(b"e", b"FETCH 1 (RFC822.SIZE) (CHANGEDSINCE 1)")
    raw.command(b"f", b"FETCH 1 (BODY[1])")
    assert (
        first[0] == raw.command(b"g", b"FETCH 1 (RFC822.SIZE)")[0] == b"* 1 FETCH (RFC822.SIZE %d)\r\n" % len(MULTIPART)
    )
    assert raw.command(b"h", b"FETCH 1 (BODY.PEEK[1])")[0] == b"* 1 FETCH (BODY[1] {5}\r\n"


def test_one_number_sets(imap):
    """A lone sequence number beyond the mailbox is BAD, a lone UID that is not there is nothing,
    and digits other than ASCII's are not numbers (RFC 3501 §9: nz-number is ASCII digits)."""
    imap.deliver(MULTIPART)
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    assert raw.command(b"c", b"FETCH 1 (RFC822.SIZE)")[0] == b"* 1 FETCH (RFC822.SIZE %d)\r\n" % len(MULTIPART)
    assert raw.command(b"d", b"FETCH 2 (RFC822.SIZE)")[-1].startswith(b"d BAD ")
    assert raw.command(b"e", b"UID FETCH 2 (RFC822.SIZE)") == [b"e OK FETCH completed\r\n"]
    assert raw.command(b"f", b"UID FETCH 1 (RFC822.SIZE)")[0] == b"* 1 FETCH (UID 1 RFC822.SIZE %d)\r\n" % len(
        MULTIPART
    )
    for number in ("²", "١", "01", "4294967296"):
        assert raw.command(b"g", b"FETCH %s (FLAGS)" % number.encode())[-1].startswith(b"g BAD ")
    assert raw.command(b"h", b"NOOP")[-1] == b"h OK NOOP completed\r\n"


def test_fetch_of_a_few_in_a_large_folder_answers_each_one(imap):
    """A FETCH of a few messages in a folder many times larger looks each one up (see _render):
    the right message for each number, also while the session's view lags behind an expunge
    made by another session."""
    from tests.agents.imap.conftest import message

    for number in range(1, 41):
        imap.deliver(message(f"number {number}", body=f"body {number}\r\n"))
    client = imap.client()
    client.select("INBOX")
    _typ, data = client.fetch("3,39", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
    parts = [part for part in data if isinstance(part, tuple)]
    assert [part[1] for part in parts] == [
        b"Subject: number 3\r\n\r\n",
        b"body 3\r\n",
        b"Subject: number 39\r\n\r\n",
        b"body 39\r\n",
    ]
    other = imap.client()
    other.select("INBOX")
    other.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    other.expunge()
    # The first session has not been told of the expunge yet: its number 3 is still UID 3.
    _typ, data = client.uid("FETCH", "3,40", "(BODY.PEEK[TEXT])")
    assert [part[1] for part in data if isinstance(part, tuple)] == [b"body 3\r\n", b"body 40\r\n"]


def test_sequence_numbers_in_an_empty_mailbox_are_bad(imap):
    """RFC 9051 §6.4.8: in an empty mailbox no message sequence number is valid, "*" included
    (BAD, as Dovecot); UID sets and SEARCH may name nothing and succeed."""
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"CREATE Empty")
    raw.command(b"c", b"SELECT Empty")
    for tag, command in (
        (b"d", b"FETCH 1:* (FLAGS)"),
        (b"e", b"FETCH * (FLAGS)"),
        (b"f", b"STORE 1:* +FLAGS (\\Seen)"),
        (b"g", b"COPY 1:* INBOX"),
        (b"h", b"MOVE * INBOX"),
    ):
        assert raw.command(tag, command)[-1].startswith(tag + b" BAD ")
    for tag, command in (
        (b"i", b"UID FETCH 1:* (FLAGS)"),
        (b"j", b"UID STORE 1:* +FLAGS (\\Seen)"),
        (b"k", b"UID COPY 1:* INBOX"),
    ):
        assert raw.command(tag, command) == [tag + b" OK " + command.split(b" ")[1] + b" completed\r\n"]
    assert raw.command(b"l", b"SEARCH 1:*") == [b"* SEARCH\r\n", b"l OK SEARCH completed\r\n"]


def test_sections_alike_from_a_file_and_from_the_database(imap, settings):
    """A message kept in the database (YUBIN_BLOB_INLINE_MAX) and one kept in a file answer every
    section alike, delivered or APPENDed."""
    from store.blobs import blob_path
    from store.models import Message

    raws = [MULTIPART.replace(b"Subject: parts", b"Subject: %d" % n) for n in range(4)]
    client = imap.client()
    settings.YUBIN_BLOB_INLINE_MAX = 0
    imap.deliver(raws[0])
    client.append("INBOX", None, None, raws[1])
    settings.YUBIN_BLOB_INLINE_MAX = 128 * 1024
    imap.deliver(raws[2])
    client.append("INBOX", None, None, raws[3])
    stored = Message.objects.filter(folder__account__address="taro@example.test").order_by("uid")
    assert [blob_path(m.blob_id).exists() for m in stored] == [True, True, False, False]
    client.select("INBOX")
    items = "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<5.20> BINARY.PEEK[2] BODY.PEEK[TEXT])"
    expected = [b"hello", raws[0][raws[0].index(b"Content-Type: application") :].split(b"\r\n\r\n")[0] + b"\r\n\r\n"]
    expected += [raws[0][5:25], b"\x00\x01\x02", raws[0].split(b"\r\n\r\n", 1)[1]]
    for number, raw in enumerate(raws, 1):
        _typ, data = client.fetch(str(number), items)
        assert [part[1] for part in data if isinstance(part, tuple)] == expected
        assert _section(client, str(number), "") == raw
        _typ, data = client.fetch(str(number), "(BODY.PEEK[HEADER.FIELDS (Subject)])")
        assert data[0][1] == b"Subject: %d\r\n\r\n" % (number - 1)
