"""The webmail over Django's test client against the real IMAP and SMTP servers: login,
session contents, connection reuse, security headers, injection refusals."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from tests.webmail import messages
from tests.webmail.conftest import ADDRESS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(mail_system) -> Client:
    client = Client()
    response = client.post("/login/", {"address": ADDRESS, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _uid_of(mail_system, subject: str, folder: str = "INBOX") -> int:
    imap = mail_system.imap()
    try:
        imap.select_folder(folder)
        uids = imap.search(["SUBJECT", subject], charset="UTF-8")
        assert uids, f"{subject!r} not in {folder}"
        return uids[-1]
    finally:
        imap.logout()


def test_session_holds_a_token_never_the_password(mail_system, client):
    """After login the session has the address and a token; the password is nowhere in it."""
    session = client.session
    stored = " ".join(str(value) for value in session.values())
    assert PASSWORD not in stored
    assert session["webmail_token"] and session["webmail_address"] == ADDRESS


def test_wrong_password_refused_and_throttled(mail_system, make_account):
    """Wrong passwords are refused; past the shared throttle even the right one waits.

    An account of its own: a success elsewhere clears an account's count (by design), and other
    clients of the shared harness log in as the usual test accounts."""
    address = "throttled@example.test"
    make_account(address)
    client = Client()
    for _ in range(10):
        response = client.post("/login/", {"address": address, "password": "wrong"})
        assert response.status_code == 401
    response = client.post("/login/", {"address": address, "password": PASSWORD})
    assert response.status_code == 401
    assert "Too many failed attempts" in response.content.decode()


def test_pages_reuse_one_imap_connection(mail_system, client):
    """Successive requests use the session's pooled IMAP connection (no reconnect per request)."""
    from webmail.imap.pool import POOL

    mail_system.append(messages.plain())
    assert client.get("/").status_code == 200
    key = POOL.key(client.session["webmail_token"], "main")
    first = POOL._entries[key].client
    assert client.get("/").status_code == 200
    assert client.get("/?filter=unread").status_code == 200
    assert POOL._entries[key].client is first


def test_logout_ends_imap_session_and_token(mail_system, client):
    """Logout closes the pooled connection and the token no longer authenticates."""
    from webmail.imap.pool import POOL, ImapAuthExpired, connect

    token = client.session["webmail_token"]
    client.get("/")
    response = client.post("/logout/")
    assert response.status_code == 302
    assert not any(key.startswith(POOL.key(token, "")[:64]) for key in POOL._entries)
    with pytest.raises(ImapAuthExpired):
        connect(ADDRESS, token)
    assert client.get("/").status_code == 302


def test_inbox_lists_japanese_subjects(mail_system, client):
    """ISO-2022-JP and Shift_JIS subjects and names show decoded in the list."""
    mail_system.append(messages.iso2022jp())
    mail_system.append(messages.shift_jis_with_attachment())
    page = client.get("/").content.decode()
    assert "日本語の件名" in page and "佐藤 花子" in page and "見積もり" in page


def test_message_page_headers_and_japanese_body(mail_system, client):
    """A Japanese message shows its body decoded, including NEC special characters."""
    mail_system.append(messages.iso2022jp())
    uid = _uid_of(mail_system, "日本語の件名")
    response = client.get(f"/read/{uid}/?f=INBOX")
    page = response.content.decode()
    assert "こんにちは、世界。①番です。" in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_html_body_served_sandboxed_with_strict_csp(mail_system, client):
    """The HTML body is its own document under a no-script CSP, framable only by us."""
    mail_system.append(messages.html('<p>Hi</p><img src="cid:logo@x"><img src="https://remote.example/t.png">'))
    uid = _uid_of(mail_system, "HTML hello")
    page = client.get(f"/read/{uid}/?f=INBOX").content.decode()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    assert "remote image was blocked" in page
    body = client.get(f"/read/{uid}/body/?f=INBOX")
    assert "script-src 'none'" in body["Content-Security-Policy"]
    assert body["X-Frame-Options"] == "SAMEORIGIN"
    html = body.content.decode()
    assert "data:image/png;base64," in html and "remote.example" not in html


def test_attachment_download_headers(mail_system, client):
    """Attachments download with Content-Disposition: attachment (RFC 6266 name) and nosniff."""
    mail_system.append(messages.shift_jis_with_attachment())
    uid = _uid_of(mail_system, "見積もり")
    page = client.get(f"/read/{uid}/?f=INBOX").content.decode()
    assert "見積書.txt" in page
    section = re.search(r"/part/([0-9.]+)/", page).group(1)
    response = client.get(f"/read/{uid}/part/{section}/?f=INBOX")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.txt" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content == "見積書.txt content".encode()


def test_csrf_required_on_state_changes(mail_system):
    """POSTs without the CSRF token are refused."""
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"address": ADDRESS, "password": PASSWORD}).status_code == 403


@pytest.mark.parametrize(
    "name",
    ["evil\r\nA001 LOGOUT", 'quote" DELETE INBOX', "star*", "percent%", "nul\x00"],
)
def test_folder_name_injection_refused_or_literal(mail_system, client, name):
    """Folder names with CRLF, wildcards or NUL are refused; quotes are data, never syntax."""
    response = client.post("/folders/", {"op": "create", "name": name}, follow=True)
    assert response.status_code == 200
    imap = mail_system.imap()
    try:
        names = [folder[2] for folder in imap.list_folders()]
        assert "INBOX" in names
    finally:
        imap.logout()
    if '"' in name:
        assert name in names  # created under exactly that name
    else:
        assert "This folder name cannot be used." in response.content.decode()


@pytest.mark.parametrize("query", ['x" OR ALL', "a\r\nA2 LOGOUT", "(ALL)", "日本語"])
def test_search_strings_are_data(mail_system, client, query):
    """Search strings cannot change the IMAP command: quotes/parentheses match literally, CRLF is refused."""
    mail_system.append(messages.plain(subject="Ordinary"))
    mail_system.append(messages.iso2022jp())
    response = client.get("/search/", {"subject": query, "scope": "all"})
    page = response.content.decode()
    if "\r" in query:
        assert response.status_code == 400
    elif query == "日本語":
        assert "日本語の件名" in page
    else:
        assert "Ordinary" not in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "hanako@example.test\r\nBcc: victim@elsewhere.example"),
        ("subject", "hi\r\nBcc: victim@elsewhere.example"),
        ("cc", "x@example.test\nX-Evil: 1"),
        ("to", "hanako@example.test>\r\nRCPT TO:<victim@elsewhere.example"),
    ],
)
def test_compose_header_injection_refused(mail_system, client, field, value):
    """CRLF in recipients or subject is refused with a message; nothing is sent."""
    data = {"from_address": ADDRESS, "to": "hanako@example.test", "subject": "s", "body": "b", "action": "send"}
    data[field] = value
    response = client.post("/compose/", data)
    assert response.status_code == 400
    assert "not allowed" in response.content.decode() or "not a valid address" in response.content.decode()


def test_send_from_foreign_address_refused(mail_system, client):
    """From must be one of the account's addresses."""
    data = {"from_address": "ceo@elsewhere.example", "to": "hanako@example.test", "subject": "s", "body": "b"}
    assert client.post("/compose/", data).status_code == 400


def test_send_reaches_recipient_and_sent_copy_kept(mail_system, client):
    """A sent message is delivered to the recipient and a copy with \\Seen lands in Sent."""
    data = {
        "from_address": ADDRESS,
        "to": "花子 <hanako@example.test>",
        "bcc": ADDRESS,
        "subject": "送信テスト",
        "body": "本文です",
        "action": "send",
    }
    response = client.post("/compose/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    imap = mail_system.imap("hanako@example.test")
    try:
        imap.select_folder("INBOX")
        assert imap.search(["SUBJECT", "送信テスト"], charset="UTF-8")
    finally:
        imap.logout()
    sent_uid = _uid_of(mail_system, "送信テスト", folder="Sent")
    imap = mail_system.imap()
    try:
        imap.select_folder("Sent")
        assert b"\\Seen" in imap.get_flags([sent_uid])[sent_uid]
    finally:
        imap.logout()


def test_draft_saved_and_replaced(mail_system, client):
    """Saving a draft twice leaves one draft with \\Draft in Drafts."""
    data = {"from_address": ADDRESS, "to": "", "subject": "Work in progress", "body": "v1", "action": "save"}
    first = client.post("/compose/", data, HTTP_ACCEPT="application/json").json()
    data.update(body="v2", draft_uid=str(first["draft_uid"]))
    second = client.post("/compose/", data, HTTP_ACCEPT="application/json").json()
    assert second["draft_uid"] != first["draft_uid"]
    imap = mail_system.imap()
    try:
        imap.select_folder("Drafts")
        uids = imap.search(["SUBJECT", "Work in progress"])
        assert uids == [second["draft_uid"]]
        assert b"\\Draft" in imap.get_flags(uids)[uids[0]]
    finally:
        imap.logout()
    page = client.get(f"/compose/?mode=draft&f=Drafts&uid={second['draft_uid']}").content.decode()
    assert "v2" in page and "Work in progress" in page


def test_move_delete_and_empty_trash(mail_system, client):
    """Delete moves to Trash; deleting in Trash (or emptying it) removes for good."""
    mail_system.append(messages.plain(subject="Doomed"))
    uid = _uid_of(mail_system, "Doomed")
    client.post("/actions/", {"f": "INBOX", "uid": [uid], "action": "delete"})
    trash_uid = _uid_of(mail_system, "Doomed", folder="Trash")
    client.post("/folders/", {"op": "empty", "name": "Trash"})
    imap = mail_system.imap()
    try:
        imap.select_folder("Trash")
        assert imap.search(["ALL"]) == []
        imap.select_folder("INBOX")
        assert imap.search(["SUBJECT", "Doomed"]) == []
    finally:
        imap.logout()
    assert trash_uid


def test_live_answers_when_mail_arrives(mail_system, client):
    """The long poll returns a new state when a message is delivered."""
    state = client.get("/live/", {"f": "INBOX", "state": "", "format": "json"}).json()
    mail_system.append(messages.plain(subject="Live one"))
    fresh = client.get("/live/", {"f": "INBOX", "state": state["state"], "format": "json"}).json()
    assert fresh["state"] != state["state"]
    assert fresh["inbox_unseen"] == state["inbox_unseen"] + 1


def test_dropped_connection_is_replaced_transparently(mail_system, client):
    """When the server drops the pooled connection, the next page reconnects with the token."""
    import socket as socket_module

    from webmail.imap.pool import POOL

    mail_system.append(messages.plain())
    assert client.get("/").status_code == 200
    slot = POOL._entries[POOL.key(client.session["webmail_token"], "main")]
    slot.client.socket().shutdown(socket_module.SHUT_RDWR)
    response = client.get("/")
    assert response.status_code == 200
    assert "Plain hello" in response.content.decode()


def test_unknown_folder_and_message_say_so(mail_system, client):
    """A folder or message that does not exist gets a page that says so, not a crash."""
    response = client.get("/", {"f": "No Such Folder"})
    assert response.status_code == 404 and "This folder does not exist." in response.content.decode()
    response = client.get("/read/999/", {"f": "INBOX"})
    assert response.status_code == 404 and "no longer exists" in response.content.decode()


def test_forward_as_attachment_and_inline(mail_system, client):
    """Forwarding attaches the original as message/rfc822, or quotes it with its attachments."""
    import email
    import email.policy

    mail_system.append(messages.shift_jis_with_attachment())
    uid = _uid_of(mail_system, "見積もり")
    page = client.get("/compose/", {"mode": "attach", "f": "INBOX", "uid": uid}).content.decode()
    assert f'name="forward_uid" value="{uid}"' in page and "Fwd: 見積もり" in page
    data = {"from_address": ADDRESS, "to": "hanako@example.test", "subject": "Fwd: 見積もり", "body": "FYI"}
    data.update(forward_uid=str(uid), forward_folder="INBOX", action="send")
    assert client.post("/compose/", data).status_code == 302
    inline = client.get("/compose/", {"mode": "forward", "f": "INBOX", "uid": uid}).content.decode()
    body = inline[inline.index("<textarea") : inline.index("</textarea>")]
    assert "お見積もりを送ります。" in body, body
    assert "見積書.txt" in inline
    imap = mail_system.imap("hanako@example.test")
    try:
        imap.select_folder("INBOX")
        [received] = imap.search(["SUBJECT", "Fwd"])
        raw = imap.fetch([received], ["BODY.PEEK[]"])[received][b"BODY[]"]
    finally:
        imap.logout()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    attached = [part.get_content_type() for part in parsed.iter_attachments()]
    assert attached == ["message/rfc822"]


def test_search_results_are_paged(mail_system, client):
    """A search with more matches than a page shows the newest page first with the total, and
    the next page holds the older matches; matches in two folders page across both."""
    from webmail.preferences import preferences_for, preferences_save

    preferences = preferences_for(ADDRESS)
    preferences.page_size = 20
    preferences_save(preferences)
    imap = mail_system.imap()
    imap.create_folder("Projects")
    imap.logout()
    for number in range(25):
        mail_system.append(messages.plain(subject=f"Paged report {number:02d}"))
    for number in range(5):
        mail_system.append(messages.plain(subject=f"Paged report p{number}"), folder="Projects")
    mail_system.append(messages.plain(subject="Unrelated"))

    first = client.get("/search/", {"subject": "paged report", "scope": "folder", "f": "INBOX"}).content.decode()
    assert "25 messages found" in first
    assert "Paged report 24" in first and "Paged report 05" in first
    assert "Paged report 04" not in first and "Unrelated" not in first
    assert "Page 1 of 2" in first
    second = client.get(
        "/search/", {"subject": "paged report", "scope": "folder", "f": "INBOX", "page": "2"}
    ).content.decode()
    assert "Paged report 04" in second and "Paged report 00" in second
    assert "Paged report 05" not in second

    everywhere = client.get("/search/", {"subject": "paged report", "scope": "all", "page": "2"}).content.decode()
    assert "30 messages found" in everywhere
    assert "Paged report 04" in everywhere and "Paged report p4" in everywhere and "Paged report p0" in everywhere
    assert "Paged report 05" not in everywhere


def test_lists_show_current_flags_of_messages_seen_before(mail_system, client):
    """The message list and search results keep what a message says between requests, but its
    flags are read each time: a message marked read by another client shows as read."""
    mail_system.append(messages.plain(subject="Flag freshness"))
    uid = _uid_of(mail_system, "Flag freshness")

    def row(page: str) -> str:
        match = re.search(rf'<tr class="([^"]*)"[^>]*data-uid="{uid}"', page)
        assert match, page
        return match.group(1)

    assert "unread" in row(client.get("/").content.decode())
    search = {"subject": "freshness", "scope": "folder", "f": "INBOX"}
    assert "unread" in row(client.get("/search/", search).content.decode())
    imap = mail_system.imap()
    imap.select_folder("INBOX")
    imap.add_flags([uid], [b"\\Seen"])
    imap.logout()
    assert "unread" not in row(client.get("/").content.decode())
    assert "unread" not in row(client.get("/search/", search).content.decode())


def test_digits_of_other_scripts_are_not_uids(mail_system, client):
    """'²' and '١' pass str.isdigit but not int(): such a uid is left out, never a server error."""
    mail_system.append(messages.plain(subject="Kept"))
    for value in ("²", "١"):
        assert client.post("/actions/", {"f": "INBOX", "uid": [value], "action": "delete"}).status_code < 500
        assert client.get(f"/compose/?mode=reply&f=INBOX&uid={value}").status_code == 200
    assert _uid_of(mail_system, "Kept")


def test_rules_page_saves_mark_as_read_and_dated_vacation(mail_system, client):
    """The rules page's 'Mark as read' (imap4flags) and a vacation between two dates (date,
    relational) are scripts the server takes, and the rule does what it says on the next mail."""
    response = client.post(
        "/rules/",
        {
            "rule_count": "1",
            "rule-0-field": "subject",
            "rule-0-match": "contains",
            "rule-0-value": "read me",
            "rule-0-action": "markread",
            "vacation_enabled": "on",
            "vacation_subject": "Away",
            "vacation_body": "Back on Monday.",
            "vacation_days": "3",
            "vacation_start": "2001-01-01",
            "vacation_end": "2001-01-02",
        },
    )
    assert response.status_code == 302, response.content.decode()
    mail_system.mx_send(messages.plain(subject="Please read me"), [ADDRESS])
    imap = mail_system.imap()
    try:
        imap.select_folder("INBOX")
        (uid,) = imap.search(["SUBJECT", "read me"])
        assert b"\\Seen" in imap.get_flags([uid])[uid]
    finally:
        imap.logout()
