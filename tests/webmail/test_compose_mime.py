"""Building outgoing mail: Japanese names and subjects, RFC 2231 file names, header injection."""

from __future__ import annotations

import email
import email.policy

import pytest

from webmail.mime.compose import (
    Attachment,
    HeaderInjection,
    InvalidAddress,
    Outgoing,
    envelope_recipients,
    message_build,
    message_bytes,
)


def _build(**fields):
    defaults = {"from_address": "taro@example.jp", "to": "hanako@example.jp", "subject": "s", "text": "t"}
    defaults.update(fields)
    return message_bytes(message_build(Outgoing(**defaults), hostname="mail.test"))


def test_japanese_mail_is_utf8_and_7bit_clean():
    """Names and subject become RFC 2047 words, the body UTF-8 with a 7-bit transfer encoding."""
    raw = _build(
        from_name="山田 太郎",
        to="花子 <hanako@example.jp>",
        subject="会議の件について",
        text="本日はありがとうございました。",
    )
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "山田 太郎"
    assert parsed["To"].addresses[0].display_name == "花子"
    assert str(parsed["Subject"]) == "会議の件について"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().strip() == "本日はありがとうございました。"
    assert parsed["Message-ID"].endswith("@mail.test>")


def test_attachment_with_japanese_name_uses_rfc2231():
    """A Japanese file name travels as filename*=utf-8''... and comes back intact."""
    raw = _build(attachments=[Attachment("報告書 2024.pdf", "application/pdf", b"%PDF-1.4\n")])
    assert b"filename*=utf-8''%E5%A0%B1%E5%91%8A%E6%9B%B8%202024.pdf" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    attachment = next(parsed.iter_attachments())
    assert attachment.get_filename() == "報告書 2024.pdf"
    assert attachment.get_content() == b"%PDF-1.4\n"


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "hello\r\nBcc: victim@example.org"},
        {"subject": "hello\nX-Injected: 1"},
        {"to": "a@example.jp\r\nBcc: victim@example.org"},
        {"cc": "a@example.jp\nSubject: x"},
        {"from_name": "Taro\r\nReply-To: evil@example.org"},
        {"subject": "nul\x00byte"},
    ],
)
def test_header_injection_is_refused(fields):
    """CR, LF or NUL in any header the user types is refused, not stripped."""
    with pytest.raises(HeaderInjection):
        _build(**fields)


@pytest.mark.parametrize(
    "recipient",
    ["not-an-address", "a@b", '"quoted"@@example.jp', "a b@example.jp", "a@example.jp>, x"],
)
def test_bad_recipients_are_refused(recipient):
    """Recipients that are not plain addresses are refused before anything is sent."""
    with pytest.raises(InvalidAddress):
        _build(to=recipient)


def test_bcc_goes_to_envelope_not_headers():
    """Bcc recipients receive the message but are not in the sent headers (only in the draft)."""
    outgoing = Outgoing(
        from_address="taro@example.jp", to="a@example.jp", bcc="secret@example.jp", subject="s", text="t"
    )
    assert envelope_recipients(outgoing) == ["a@example.jp", "secret@example.jp"]
    assert b"secret@example.jp" not in message_bytes(message_build(outgoing, hostname="h"))
    assert b"secret@example.jp" in message_bytes(message_build(outgoing, hostname="h", draft=True))


def test_rich_text_is_cleaned_and_alternative():
    """Rich text goes out as multipart/alternative; script in the composer's HTML is removed."""
    raw = _build(text="bold", html='<b>bold</b><script>alert(1)</script><a href="javascript:x">l</a>')
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",)).get_content()
    assert "<b>bold</b>" in html and "script" not in html and "javascript" not in html


def test_forward_as_attachment_is_message_rfc822():
    """A forwarded original is attached as message/rfc822."""
    original = b"From: a@example.jp\r\nSubject: orig\r\n\r\nbody\r\n"
    outgoing = Outgoing(
        from_address="taro@example.jp", to="b@example.jp", subject="Fwd: orig", text="see", forwarded=[original]
    )
    parsed = email.message_from_bytes(message_bytes(message_build(outgoing, hostname="h")), policy=email.policy.default)
    attached = next(parsed.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_content()["Subject"] == "orig"
