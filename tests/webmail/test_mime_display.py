"""Decoding what IMAP returns for display: charsets, encoded words, RFC 2231 names, structure."""

from __future__ import annotations

import pytest
from imapclient.response_types import Address, BodyData

from webmail.mime.charset import decode_text
from webmail.mime.headers import address_list, envelope_mailboxes, header_text
from webmail.mime.structure import display_parts, structure_parse
from webmail.mime.transfer import part_text, transfer_decode

JAPANESE = "日本語のメール①です"


@pytest.mark.parametrize(
    ("charset", "encoded"),
    [
        ("iso-2022-jp", "日本語のメールです".encode("iso2022_jp")),
        ("ISO-2022-JP", "日本語のメール".encode("iso2022_jp") + b"\x1b$B-!\x1b(B" + "です".encode("iso2022_jp")),
        ("shift_jis", JAPANESE.encode("cp932")),
        ("Shift_JIS", "日本語のメールです".encode("shift_jis")),
        ("euc-jp", "日本語のメールです".encode("euc_jp")),
        ("utf-8", JAPANESE.encode()),
        (None, JAPANESE.encode()),
        ("x-unknown", JAPANESE.encode("cp932")),
    ],
)
def test_japanese_charsets_decode(charset, encoded):
    """Declared, mislabelled and missing charsets of Japanese mail (NEC ① in JIS too) decode to the text."""
    text = decode_text(encoded, charset)
    assert text in (JAPANESE, "日本語のメールです")


def test_wrong_declared_charset_falls_back_to_guessing():
    """Bytes that are not valid in the declared charset are guessed rather than garbled."""
    assert decode_text(JAPANESE.encode("cp932"), "utf-8") == JAPANESE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"),
        (b"=?UTF-8?B?5pel5pys6Kqe?= =?UTF-8?Q?=E3=81=AE?= subject", "日本語の subject"),
        (b"=?shift_jis?B?k/qWe4zq?=", "日本語"),
        ("件名 raw UTF-8".encode(), "件名 raw UTF-8"),
        (b"plain\r\n folded", "plain folded"),
        (b"=?bogus?Q?broken", "=?bogus?Q?broken"),
        (None, ""),
    ],
)
def test_header_text(raw, expected):
    """RFC 2047 encoded words (any charset), raw UTF-8 and folding decode to display text."""
    assert header_text(raw) == expected


def test_address_list_decodes_names():
    """Address headers split into mailboxes whose display names are decoded."""
    mailboxes = address_list("=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>, bob@example.org")
    assert [(m.name, m.address) for m in mailboxes] == [("山田", "yamada@example.jp"), ("", "bob@example.org")]


def test_envelope_mailboxes_skip_group_markers():
    """ENVELOPE group markers (no host) are not shown as addresses."""
    envelope = (
        Address(b"=?UTF-8?B?5aSq6YOO?=", None, b"taro", b"example.jp"),
        Address(None, None, b"undisclosed", None),
    )
    assert [(m.name, m.address) for m in envelope_mailboxes(envelope)] == [("太郎", "taro@example.jp")]


def test_transfer_decoding_never_raises():
    """Broken base64 and quoted-printable decode to what can be recovered."""
    assert transfer_decode(b"5pel5pys\r\n6Kqe", "base64") == "日本語".encode()
    assert transfer_decode(b"!!!###", "base64") == b""
    assert transfer_decode(b"gqiMqZDPguCC6ILwkZeC6ILcgreBQg==", "base64").decode("cp932") == "お見積もりを送ります。"
    assert transfer_decode(b"gqiMqZDPguCC6ILwkZeC6ILcgreBQg", "base64").decode("cp932") == "お見積もりを送ります。"
    assert transfer_decode(b"caf=C3=A9=\r\n!", "quoted-printable") == "café!".encode()
    assert part_text(b"GyRCRnxLXDhsGyhC", "base64", "iso-2022-jp") == "日本語"


MIXED = BodyData.create(
    (
        (
            (b"text", b"plain", (b"charset", b"iso-2022-jp"), None, None, b"7bit", 100, 3, None, None, None, None),
            (b"text", b"html", (b"charset", b"utf-8"), None, None, b"quoted-printable", 300, 9, None, None, None, None),
            b"alternative",
            (b"boundary", b"alt"),
            None,
            None,
            None,
        ),
        (
            b"application", b"pdf", (b"name", b"=?UTF-8?B?5aCx5ZGK5pu4LnBkZg==?="), None, None, b"base64", 2000,
            None, (b"attachment", (b"filename*", b"UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8.pdf")), None, None,
        ),
        (
            b"message", b"rfc822", None, None, None, b"7bit", 500,
            None,
            (b"text", b"plain", (b"charset", b"us-ascii"), None, None, b"7bit", 20, 1, None, None, None, None),
            10, None, (b"attachment", None), None, None,
        ),
        b"mixed",
        (b"boundary", b"mix"),
        None,
        None,
        None,
    )
)  # fmt: skip


def test_structure_sections_and_display_choice():
    """Sections are numbered as FETCH BODY[] expects; bodies and attachments are told apart."""
    root = structure_parse(MIXED)
    sections = [(part.section, part.content_type) for part in root.walk()]
    assert sections == [
        ("", "multipart/mixed"),
        ("1", "multipart/alternative"),
        ("1.1", "text/plain"),
        ("1.2", "text/html"),
        ("2", "application/pdf"),
        ("3", "message/rfc822"),
        ("3.1", "text/plain"),
    ]
    display = display_parts(root)
    assert display.text.section == "1.1"
    assert display.html.section == "1.2"
    assert [part.section for part in display.attachments] == ["2", "3"]
    assert display.attachments[0].filename == "報告書.pdf"  # RFC 2231 filename* wins over name


def test_related_images_are_inline_not_attachments():
    """multipart/related images with a Content-ID are inline resources, not attachments."""
    related = BodyData.create(
        (
            (b"text", b"html", (b"charset", b"utf-8"), None, None, b"7bit", 50, 2, None, None, None, None),
            (
                b"image", b"png", (b"name", b"logo.png"), b"<logo@x>", None, b"base64", 400,
                None, (b"inline", None), None, None,
            ),
            b"related",
            (b"boundary", b"rel"),
            None,
            None,
            None,
        )
    )  # fmt: skip
    display = display_parts(structure_parse(related))
    assert display.html.section == "1"
    assert display.attachments == []
    assert display.related["logo@x"].section == "2"


def test_single_part_message_is_section_1():
    """A non-multipart message's body is BODY[1] (RFC 3501 §6.4.5)."""
    single = BodyData.create(
        (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"8bit", 5, 1, None, None, None, None)
    )
    root = structure_parse(single)
    assert root.section == "1"
    assert display_parts(root).text is root
