"""The webmail in headless Chromium against the running system: the flows people use."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.webmail import messages
from tests.webmail.conftest import ADDRESS, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_subject(page, text: str) -> None:
    page.click(f"tr.message td.subject a:has-text('{text}')")
    page.wait_for_selector(".message-headers")


def test_login_and_read_plain_html_and_japanese(mail_system, live_server, page):
    """Log in, read a plain, an HTML and an ISO-2022-JP message."""
    mail_system.append(messages.plain())
    mail_system.append(messages.html("<h2>Welcome</h2><p>Formatted <b>text</b></p>"))
    mail_system.append(messages.iso2022jp())
    login(page, live_server.url)
    assert page.locator("tr.message").count() == 3
    assert "(3)" in page.title()
    _open_subject(page, "Plain hello")
    assert page.locator(".plain a[href='https://example.org/page']").count() == 1
    page.go_back()
    _open_subject(page, "HTML hello")
    frame = page.frame_locator("iframe.html-body")
    assert frame.locator("h2").inner_text() == "Welcome"
    page.go_back()
    _open_subject(page, "日本語の件名")
    assert "佐藤 花子" in page.locator(".message-headers .from").inner_text()
    assert "こんにちは、世界。①番です。" in page.locator(".plain").inner_text()
    assert not page.recorder.page_errors


XSS_CORPUS = """
<p id=marker>payload corpus rendered</p>
<script>alert('script')</script>
<img src=x onerror="alert('onerror')">
<body onload="alert('onload')">
<a id=js href="javascript:alert('js-url')">javascript link</a>
<a id=data href="data:text/html,<script>alert('data-url')</script>">data link</a>
<iframe src="javascript:alert('iframe')"></iframe>
<svg><animate onbegin="alert('svg-animate')" attributeName=x dur=1s></animate></svg>
<svg><set attributeName="onmouseover" to="alert('svg-set')"/></svg>
<div style="background:url(http://evil.example/css-url.png)">css url</div>
<div style="width: expression(alert('expression'))">expression</div>
<style>@import url(http://evil.example/import.css); body { background: url(http://evil.example/bg.png) }</style>
<base href="http://evil.example/">
<meta http-equiv="refresh" content="0;url=http://evil.example/refresh">
<form action="http://evil.example/form"><input name=q value=1><button id=go>go</button></form>
<img src="http://evil.example/pixel.gif">
<<script>script>alert('malformed')<</script>/script>
<math><mtext><table><mglyph><style><img src=x onerror="alert('mxss')">
<object data="http://evil.example/x.swf"></object>
<embed src="http://evil.example/x.swf">
<link rel=stylesheet href="http://evil.example/link.css">
<video poster="http://evil.example/poster.png"></video>
"""


def test_script_payloads_never_run_or_load(mail_system, live_server, page):
    """HTML carrying script payloads runs nothing and loads nothing remote, even when clicked."""
    mail_system.append(messages.html(XSS_CORPUS, subject="Payloads"))
    login(page, live_server.url)
    _open_subject(page, "Payloads")
    frame = page.frame_locator("iframe.html-body")
    assert frame.locator("p:has-text('payload corpus rendered')").count() == 1
    for link in ("#js", "#data"):
        if frame.locator(link).count():
            frame.locator(link).click()
    page.wait_for_timeout(1500)
    recorder = page.recorder
    assert recorder.dialogs == []
    local = live_server.url
    remote = [url for url in recorder.requests if not url.startswith((local, "data:", "about:"))]
    assert remote == [], remote
    assert not any("alert" in error for error in recorder.page_errors)
    sandbox = page.locator("iframe.html-body").get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox


def test_compose_send_to_self_arrives_live(mail_system, live_server, page):
    """A message sent to oneself appears in the open inbox without a reload."""
    login(page, live_server.url)
    compose = page.context.new_page()
    compose.goto(f"{live_server.url}/compose/")
    compose.fill("#c-to", ADDRESS)
    compose.fill("#c-subject", "自分宛てのテスト")
    compose.fill("#c-body", "届きますか?")
    compose.click("[data-send]")
    compose.wait_for_url(f"{live_server.url}/")
    page.wait_for_selector("tr.message:has-text('自分宛てのテスト')", timeout=20_000)
    assert "(1)" in page.title()


def test_reply_quotes_and_marks_answered(mail_system, live_server, page):
    """Reply fills recipient, Re: subject and the quote; sending marks the original answered."""
    mail_system.append(messages.plain(subject="Question", body="Can you come?\r\n"))
    login(page, live_server.url)
    _open_subject(page, "Question")
    page.keyboard.press("r")
    page.wait_for_selector("#compose-form")
    assert "bob@elsewhere.example" in page.input_value("#c-to")
    assert page.input_value("#c-subject") == "Re: Question"
    assert "> Can you come?" in page.input_value("#c-body")
    page.fill("#c-to", ADDRESS)  # keep the reply local
    page.click("[data-send]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("tr.message:has-text('Question') td.flag span[title='Answered']").count() == 1


def test_attachment_round_trip_with_japanese_name(mail_system, live_server, page, tmp_path):
    """Upload (with progress), send, receive and download an attachment named in Japanese."""
    attachment = tmp_path / "報告書.pdf"
    attachment.write_bytes(b"%PDF-1.4\n%test\n")
    login(page, live_server.url)
    page.goto(f"{live_server.url}/compose/")
    page.fill("#c-to", ADDRESS)
    page.fill("#c-subject", "添付ファイル")
    page.set_input_files("[data-files]", str(attachment))
    page.wait_for_selector("[data-attachments] li:has-text('報告書.pdf')")
    page.click("[data-send]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/")
    _open_subject(page, "添付ファイル")
    with page.expect_download() as download_info:
        page.click(".attachments a:has-text('報告書.pdf')")
    download = download_info.value
    assert download.suggested_filename == "報告書.pdf"
    assert Path(download.path()).read_bytes() == b"%PDF-1.4\n%test\n"


def test_search_finds_japanese_text(mail_system, live_server, page):
    """The search box finds a Japanese subject across folders."""
    mail_system.append(messages.iso2022jp(subject="請求書の送付"))
    mail_system.append(messages.plain(subject="Unrelated"))
    login(page, live_server.url)
    page.keyboard.press("/")
    page.keyboard.type("請求書")
    page.keyboard.press("Enter")
    page.wait_for_selector(".results-title")
    expect(page.locator(".hits tr.message")).to_have_count(1)
    assert "請求書の送付" in page.locator(".hits").inner_text()


def test_move_and_delete(mail_system, live_server, page):
    """Selected messages move to another folder; delete moves them to Trash."""
    imap = mail_system.imap()
    imap.create_folder("Projects")
    imap.subscribe_folder("Projects")
    imap.logout()
    mail_system.append(messages.plain(subject="Keep me"))
    mail_system.append(messages.plain(subject="Bin me"))
    login(page, live_server.url)
    page.check("tr.message:has-text('Keep me') input[name=uid]")
    page.select_option("#move-target", "Projects")
    page.click("button[name=action][value=move]")
    page.wait_for_load_state()
    page.check("tr.message:has-text('Bin me') input[name=uid]")
    page.click("button[name=action][value=delete]")
    page.wait_for_load_state()
    assert page.locator("tr.message").count() == 0
    # A folder link is a whole page load: the click returns once the new
    # page has begun, so the counts wait for its rows.
    page.click("[data-folder-link='Projects']")
    expect(page.locator("tr.message:has-text('Keep me')")).to_have_count(1)
    page.click("[data-folder-link='Trash']")
    expect(page.locator("tr.message:has-text('Bin me')")).to_have_count(1)


def test_keyboard_navigation(mail_system, live_server, page):
    """j/k move, o opens, u goes back, c composes, ? shows help."""
    for n in range(3):
        mail_system.append(messages.plain(subject=f"Message {n}"))
    login(page, live_server.url)
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector(".message-headers")
    assert page.locator("h1.subject").inner_text() == "Message 1"
    page.keyboard.press("u")
    page.wait_for_selector("tr.message")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.wait_for_selector("#compose-form")


def test_phone_layout(mail_system, live_server, phone_page):
    """On a phone-sized window the folder list folds behind a button and the list fits."""
    mail_system.append(messages.plain())
    login(phone_page, live_server.url)
    assert not phone_page.locator("#sidebar").is_visible()
    phone_page.click("[data-menu]")
    assert phone_page.locator("#sidebar").is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380


def test_japanese_interface(mail_system, live_server, page):
    """Choosing Japanese in settings translates the interface."""
    login(page, live_server.url)
    page.goto(f"{live_server.url}/settings/")
    page.select_option("#id_language", "ja")
    page.click("button[type=submit].primary")
    page.goto(f"{live_server.url}/")
    assert page.locator("a.button.primary").inner_text() == "作成"
    assert "受信トレイ" in page.locator("#sidebar").inner_text()


@pytest.mark.skipif(importlib.util.find_spec("agents.managesieve") is None, reason="ManageSieve server not installed")
def test_rule_files_next_mail(mail_system, live_server, page):
    """A rule made in the form files the next matching mail into its folder."""
    imap = mail_system.imap()
    imap.create_folder("Newsletters")
    imap.logout()
    login(page, live_server.url)
    page.goto(f"{live_server.url}/rules/")
    page.select_option("#r0-field", "subject")
    page.fill("#r0-value", "weekly news")
    page.select_option("#r0-action", "fileinto")
    page.fill("#r0-argument", "Newsletters")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".flash")
    mail_system.mx_send(messages.plain(subject="Your weekly news"), [ADDRESS])
    imap = mail_system.imap()
    try:
        imap.select_folder("Newsletters")
        assert imap.search(["SUBJECT", "weekly news"])
    finally:
        imap.logout()
    assert re.search("weekly news", page.content()) is None
