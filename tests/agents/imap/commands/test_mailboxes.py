"""CREATE / DELETE / RENAME / SUBSCRIBE / LIST / LSUB / STATUS / SELECT (QRESYNC) / NAMESPACE / QUOTA / ENABLE."""

from tests.agents.imap.conftest import message


def test_create_list_rename_delete(imap):
    """Hierarchy with "/", modified UTF-7 names, children attributes, rename of a parent."""
    client = imap.client()
    assert client.create("Projects/2024")[0] == "OK"
    assert client.create("&ZeVnLIqe-")[0] == "OK"  # 日本語
    _typ, data = client.list('""', "*")
    assert b'(\\NonExistent \\HasChildren) "/" "Projects"' in data
    assert b'(\\HasNoChildren) "/" "Projects/2024"' in data
    assert b'(\\HasNoChildren) "/" "&ZeVnLIqe-"' in data
    assert b'(\\HasNoChildren \\Trash) "/" "Trash"' in data
    assert client.list('""', "%")[1].count(b'(\\NonExistent \\HasChildren) "/" "Projects"') == 1
    assert client.rename("Projects/2024", "Archive/2024")[0] == "OK"
    assert client.list('""', "Archive/*")[1] == [b'(\\HasNoChildren) "/" "Archive/2024"']
    assert client.delete("Archive/2024")[0] == "OK"
    assert client.create("&Jjo-bad&")[0] == "NO"
    assert client.delete("INBOX")[0] == "NO"
    assert client.create("Trash")[1][0].startswith(b"[ALREADYEXISTS]")


def test_subscribe_lsub_status(imap):
    """LSUB lists subscribed folders; STATUS reads the counters; LIST-STATUS returns both."""
    imap.deliver(message("a"))
    client = imap.client()
    client.unsubscribe("Junk")
    _typ, data = client.lsub('""', "*")
    assert b'() "/" "Junk"' not in data and b'() "/" "INBOX"' in data
    assert client.status("INBOX", "(MESSAGES UNSEEN UIDNEXT HIGHESTMODSEQ SIZE)")[1][0].startswith(
        b'"INBOX" (MESSAGES 1 UNSEEN 1 UIDNEXT 2 HIGHESTMODSEQ '
    )
    _typ, data = client._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES))")
    assert client.untagged_responses.pop("STATUS") == [b'"INBOX" (MESSAGES 1)']


def test_subscription_outlives_its_folder(imap):
    """RFC 3501 §6.3.6: deleting a folder leaves its name subscribed; LSUB and LIST (SUBSCRIBED)
    show it (\\Noselect, \\NonExistent) until it is unsubscribed; plain LIST does not."""
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"CREATE Work/Old")
    assert raw.command(b"c", b'LSUB "" Work/*') == [b'* LSUB () "/" "Work/Old"\r\n', b"c OK LSUB completed\r\n"]
    raw.command(b"d", b"DELETE Work/Old")
    assert raw.command(b"e", b'LSUB "" Work/*') == [
        b'* LSUB (\\Noselect) "/" "Work/Old"\r\n',
        b"e OK LSUB completed\r\n",
    ]
    assert raw.command(b"f", b'LIST (SUBSCRIBED) "" Work/*') == [
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" "Work/Old"\r\n',
        b"f OK LIST completed\r\n",
    ]
    assert raw.command(b"g", b'LIST "" Work*') == [b"g OK LIST completed\r\n"]
    assert raw.command(b"h", b"UNSUBSCRIBE Work/Old") == [b"h OK UNSUBSCRIBE completed\r\n"]
    assert raw.command(b"i", b'LSUB "" Work/*') == [b"i OK LSUB completed\r\n"]
    assert raw.command(b"j", b"SUBSCRIBE Work/Old")[-1].startswith(b"j NO [NONEXISTENT]")


def test_rename_takes_subscriptions_along(imap):
    client = imap.client()
    client.create("Projects/2024")
    client.create("Projects")
    client.unsubscribe("Projects")
    assert client.rename("Projects", "Done")[0] == "OK"
    _typ, data = client.lsub('""', "*")
    assert b'() "/" "Done/2024"' in data
    assert not [line for line in data if b"Projects" in line or line.endswith(b'"Done"')]
    _typ, data = client.lsub('""', "%")
    assert b'(\\Noselect) "/" "Done"' in data  # "%" shows the subscribed child through its parent


def test_list_extended_selection_errors(imap):
    """RFC 5258 §3: RECURSIVEMATCH alone, or with REMOTE alone, and unknown options are BAD."""
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    for tag, command in (
        (b"b", b'LIST (RECURSIVEMATCH) "" ""'),
        (b"c", b'LIST (RECURSIVEMATCH REMOTE) "" ""'),
        (b"d", b'LIST (BOGUS) "" ""'),
        (b"e", b'LIST "" "" RETURN (BOGUS)'),
    ):
        assert raw.command(tag, command)[-1].startswith(tag + b" BAD ")
    assert raw.command(b"f", b'LIST (REMOTE) "" INBOX') == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
        b"f OK LIST completed\r\n",
    ]
    raw.command(b"g", b"CREATE Parent/Child")
    raw.command(b"h", b"UNSUBSCRIBE Parent")
    assert raw.command(b"i", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" Parent') == [
        b'* LIST (\\NonExistent \\HasChildren) "/" "Parent" ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b"i OK LIST completed\r\n",
    ]


def test_select_qresync(imap):
    """ENABLE QRESYNC; SELECT with QRESYNC reports VANISHED (EARLIER) and changed flags."""
    for name in "abc":
        imap.deliver(message(name))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    assert raw.command(b"b", b"ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC\r\n"
    lines = raw.command(b"c", b"SELECT INBOX")
    validity = next(line for line in lines if b"UIDVALIDITY" in line).split(b" ")[3].rstrip(b"]")
    modseq = next(line for line in lines if b"HIGHESTMODSEQ" in line).split(b" ")[3].rstrip(b"]")
    raw.command(b"d", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    raw.command(b"e", b"EXPUNGE")
    raw.command(b"f", b"STORE 1 +FLAGS.SILENT (\\Seen)")
    raw.command(b"g", b"UNSELECT")
    lines = raw.command(b"h", b"SELECT INBOX (QRESYNC (" + validity + b" " + modseq + b"))")
    assert b"* VANISHED (EARLIER) 1\r\n" in lines
    assert any(line.startswith(b"* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ") for line in lines)


def test_namespace_quota_id_enable_compress(imap, settings):
    """NAMESPACE, GETQUOTAROOT, ID, COMPRESS=DEFLATE work."""
    import imapclient

    from tests.agents.imap.conftest import ADDRESS
    from tests.conftest import PASSWORD

    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    client.login(ADDRESS, PASSWORD)
    assert client.namespace().personal == (("", "/"),)
    assert client.id_({"name": "test"})[0][:2] == (b"name", b"Yubin")
    roots, _quotas = client.get_quota_root("INBOX")
    assert roots.mailbox == "INBOX"
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    assert raw.command(b"b", b"COMPRESS DEFLATE")[-1] == b"b OK DEFLATE active\r\n"
    import zlib

    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw.send(deflate.compress(b"c NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
    inflate = zlib.decompressobj(-15)
    data = inflate.decompress(raw.sock.recv(1000))
    assert data == b"c OK NOOP completed\r\n"


def test_list_sees_at_once_what_another_connection_committed(imap):
    """A folder created and a subscription changed through another database connection (the
    admin panel, a Sieve `fileinto :create` in another process) show in the very next LIST and
    LSUB, whichever way the server reads the list."""
    from store.services.folders import folder_create, folder_subscribe

    client = imap.client()
    before = client.list('""', "*")[1]
    assert not any(b'"Receipts"' in line for line in before)
    folder_create(account=imap.account, name="Receipts")
    folder_subscribe(account=imap.account, name="Receipts", subscribed=False)
    assert b'(\\HasNoChildren) "/" "Receipts"' in client.list('""', "*")[1]
    assert not any(b'"Receipts"' in line for line in client.lsub('""', "*")[1])
    folder_subscribe(account=imap.account, name="Receipts", subscribed=True)
    assert any(b'"Receipts"' in line for line in client.lsub('""', "*")[1])
    client.logout()
