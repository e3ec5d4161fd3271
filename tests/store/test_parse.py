"""store.parse: decoding, ENVELOPE, body offsets and sort keys over a generated corpus, plus fuzzing.

Every message is built here from text so each test shows its exact bytes; offsets are checked by
slicing the raw message, as the IMAP server will.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.mime_body import MAX_NESTING, decode_part_start
from store.parse import (
    _parse,
    attachment_filename,
    decode_part_text,
    header_fields,
    parse_message,
    search_text,
    subject_base,
    subject_is_reply,
)

JA = "日本語の件名"


def crlf(*lines: str | bytes) -> bytes:
    """Join lines with CRLF; str lines are UTF-8."""
    return b"\r\n".join(line.encode() if isinstance(line, str) else line for line in lines)


def b64_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


PLAIN = crlf(
    "From: Taro Yamada <Taro@Example.JP>",
    "To: hanako@example.jp",
    "Subject: Hello world",
    "Date: Mon, 1 Jan 2024 10:00:00 +0900",
    "Message-ID: <1@example.jp>",
    "",
    "Hello,",
    "world",
    "",
)
UTF8 = crlf(
    f"Subject: {b64_word(JA, 'utf-8')}",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "",
    base64.b64encode("本文です".encode()).decode(),
)
JIS = crlf(
    f"Subject: {b64_word(JA, 'iso-2022-jp')}",
    "Content-Type: text/plain; charset=ISO-2022-JP",
    "",
    "本文です".encode("iso2022_jp") + b"\x1b$B-!\x1b(B",  # ① is NEC row 13, outside JIS X 0208
)
SJIS = crlf("Subject: sjis", "Content-Type: text/plain; charset=Shift_JIS", "", "本文①ｶﾅ".encode("cp932"))
EUC = crlf("Subject: euc", "Content-Type: text/plain; charset=EUC-JP", "", "本文です".encode("euc_jp"))
RAW_8BIT = crlf(f"Subject: {JA}", f"From: {'太郎'} <taro@example.jp>", "", "body")
RAW_SJIS_HEADER = crlf(b"Subject: " + JA.encode("cp932"), b"", b"body")
GROUPS = crlf(
    "From: a@example.jp",
    'To: Friends: one@example.jp, "Two, Jr." <two@example.jp>;, undisclosed-recipients:;',
    "Cc: broken, <@route,@x:routed@example.jp>",
    "",
    "",
)
BARE_LF = PLAIN.replace(b"\r\n", b"\n")
NULS = crlf("Subject: nul\x00here", "", "body\x00with nul")
HEADER_ONLY = crlf("Subject: only headers", "From: x@example.jp")

ATTACHMENT_2231 = "見積書.pdf"
NESTED = crlf(
    "From: Taro <taro@example.jp>",
    "Subject: nested",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "preamble",
    "--outer",
    'Content-Type: multipart/alternative; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "plain text",
    "--inner",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>html &amp; <b>bold</b></p><script>var x</script>",
    "--inner--",
    "",
    "--outer",
    "Content-Type: application/pdf",
    "Content-Disposition: attachment;",
    " filename*0*=UTF-8''%E8%A6%8B%E7%A9%8D;",
    " filename*1*=%E6%9B%B8.pdf",
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0=",
    "--outer",
    "Content-Type: image/png",
    f'Content-Disposition: attachment; filename="{b64_word("画像.png", "iso-2022-jp")}"',
    "",
    "PNG",
    "--outer--",
    "epilogue",
)
RFC822 = crlf(
    "Subject: fwd",
    "Content-Type: multipart/mixed; boundary=b",
    "",
    "--b",
    "",
    "see attached",
    "--b",
    "Content-Type: message/rfc822",
    "",
    "From: Inner <inner@example.jp>",
    "Subject: inner",
    "Content-Type: multipart/mixed; boundary=c",
    "",
    "--c",
    "",
    "inner one",
    "--c",
    "",
    "inner two",
    "--c--",
    "--b--",
)
BROKEN_BOUNDARY = crlf("Content-Type: multipart/mixed; boundary=nowhere", "", "--elsewhere", "", "text")
NO_BOUNDARY = crlf("Content-Type: multipart/mixed", "", "text")
MISSING_FINAL = crlf("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "one", "--b", "", "two", "")


def deep(levels: int) -> bytes:
    head = b"".join(f"Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n--b{n}\r\n".encode() for n in range(levels))
    return head + b"\r\nleaf\r\n"


CORPUS = [
    PLAIN,
    UTF8,
    JIS,
    SJIS,
    EUC,
    RAW_8BIT,
    RAW_SJIS_HEADER,
    GROUPS,
    BARE_LF,
    NULS,
    HEADER_ONLY,
    NESTED,
    RFC822,
    BROKEN_BOUNDARY,
    NO_BOUNDARY,
    MISSING_FINAL,
    deep(100),
    b"",
]


def part_at(body: dict[str, Any], path: str) -> dict[str, Any]:
    """Resolve an IMAP part number like "2.1" (message/rfc822 parts number their body's parts)."""
    node = body
    for number in path.split("."):
        if "message" in node:
            node = node["message"]["body"]
        node = node["parts"][int(number) - 1]
    return node


def sliced(raw: bytes, node: dict[str, Any], start: str = "body_start", end: str = "end") -> bytes:
    return raw[node[start] : node[end]]


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        (PLAIN, "Hello world"),
        (UTF8, JA),
        (JIS, JA),
        (RAW_8BIT, JA),
        (RAW_SJIS_HEADER, JA),
        (NULS, "nul\x00here"),
        (b"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=\r\n\r\n", "café ok"),
        (b"Subject: =?utf-8?B?5pel?= =?utf-8?B?5pys?=\r\n\r\n", "日本"),
        (b"Subject: =?utf-8?B?5pc=?= =?utf-8?B?peacrA==?=\r\n\r\n", "日本"),  # character split across words
        (b"Subject: =?x-unknown-cs?Q?abc?=\r\n\r\n", "abc"),
        (b"Subject: =?iso-2022-jp?B?GyRCLSEbKEI=?=\r\n\r\n", "①"),  # NEC row 13 in JIS
        (b"Subject: \x1b$BF|K\\\x1b(B\r\n\r\n", "日本"),  # raw JIS, no encoded word
        (b"Subject: Re: folded\r\n  line\r\n\r\n", "Re: folded line"),
        (b"", ""),
    ],
)
def test_subject_is_decoded(raw: bytes, subject: str) -> None:
    """The subject is RFC 2047/charset decoded, unfolded, and whitespace-collapsed."""
    assert parse_message(raw).subject == subject


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (PLAIN, "Hello,\nworld\n"),
        (UTF8, "本文です"),
        (JIS, "本文です①"),
        (SJIS, "本文①ｶﾅ"),
        (EUC, "本文です"),
        (
            crlf(
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "caf=C3=A9=",
                "x",
            ),
            "caféx",
        ),
        (crlf("Content-Transfer-Encoding: base64", "", "!!aGVsbG8*"), "hello"),  # junk and missing padding
        (crlf("Content-Type: text/plain; charset=bogus", "", b"ok \xff"), "ok \ufffd"),
        (crlf("", "\u00e9t\u00e9".encode("cp932", "replace")), "?t?"),
        # ASCII-range bytes that are not ASCII text in the declared charset
        (crlf("Content-Type: text/plain; charset=utf-16le", "", "hi".encode("utf-16-le")), "hi"),
        (crlf("Content-Type: text/plain; charset=UTF-7", "", b"a+ZeVnLIqe-"), "a日本語"),
    ],
)
def test_decode_part_text(raw: bytes, text: str) -> None:
    """A leaf part decodes by transfer encoding and charset, CRLF normalised to LF."""
    body = parse_message(raw).body
    assert decode_part_text(raw, body) == text


def test_plain_message_fields() -> None:
    """Envelope strings are raw; sort keys, display and date are derived per RFC 5256/5957."""
    parsed = parse_message(PLAIN)
    assert parsed.size == len(PLAIN)
    assert parsed.envelope == [
        "Mon, 1 Jan 2024 10:00:00 +0900",
        "Hello world",
        [["Taro Yamada", None, "Taro", "Example.JP"]],
        [["Taro Yamada", None, "Taro", "Example.JP"]],
        [["Taro Yamada", None, "Taro", "Example.JP"]],
        [[None, None, "hanako", "example.jp"]],
        None,
        None,
        None,
        "<1@example.jp>",
    ]
    assert parsed.from_display == "Taro Yamada <Taro@Example.JP>"
    assert (parsed.from_sort, parsed.to_sort, parsed.cc_sort) == ("taro", "hanako", "")
    assert parsed.display_from == "taro yamada"
    assert parsed.date_sent == datetime(2024, 1, 1, 1, 0, tzinfo=UTC)
    assert parsed.message_id == "<1@example.jp>"
    assert parsed.preview == "Hello, world"
    assert not parsed.has_attachments
    assert parsed.body["lines"] == 2
    assert sliced(PLAIN, parsed.body) == b"Hello,\r\nworld\r\n"
    assert "Subject: Hello world" in parsed.search_headers.split("\n")


def test_envelope_names_stay_encoded_and_display_is_decoded() -> None:
    """ENVELOPE keeps RFC 2047 names as sent; display and DISPLAYFROM decode them."""
    raw = crlf(f"From: {b64_word('太郎', 'utf-8')} <taro@example.jp>", "", "")
    parsed = parse_message(raw)
    assert parsed.envelope[2] == [[b64_word("太郎", "utf-8"), None, "taro", "example.jp"]]
    assert parsed.from_display == "太郎 <taro@example.jp>"
    assert parsed.display_from == "太郎"


def test_group_and_malformed_addresses() -> None:
    """Groups follow RFC 3501; a bare word gets MISSING_DOMAIN; obsolete routes are dropped."""
    envelope = parse_message(GROUPS).envelope
    assert envelope[5] == [
        [None, None, "Friends", None],
        [None, None, "one", "example.jp"],
        ["Two, Jr.", None, "two", "example.jp"],
        [None, None, None, None],
        [None, None, "undisclosed-recipients", None],
        [None, None, None, None],
    ]
    assert envelope[6] == [[None, None, "broken", "MISSING_DOMAIN"], [None, None, "routed", "example.jp"]]
    assert (
        parse_message(GROUPS).to_display
        == "Friends: one@example.jp, Two, Jr. <two@example.jp>;, undisclosed-recipients:;"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a@b (Comment Name)", [["Comment Name", None, "a", "b"]]),
        ('"quoted \\"x\\"" <q@b>', [['quoted "x"', None, "q", "b"]]),
        ("Taro <t@b, Hanako <h@b>", [["Taro", None, "t", "b"], ["Hanako", None, "h", "b"]]),
        ("<>", [[None, None, "", ""]]),
        ("@", [[None, None, "MISSING_MAILBOX", "MISSING_DOMAIN"]]),
        (",,", None),
        ("", None),
    ],
)
def test_address_table(header: str, expected: list[list[str | None]] | None) -> None:
    """Address parsing is tolerant and never invents a group marker for a real address."""
    assert parse_message(f"To: {header}\r\n\r\n".encode()).envelope[5] == expected


def test_nested_multipart_offsets_and_names() -> None:
    """Slicing raw at part offsets yields exactly each part's MIME header and body."""
    parsed = parse_message(NESTED)
    body = parsed.body
    assert [child["subtype"] for child in body["parts"]] == ["alternative", "pdf", "png"]
    plain, html = part_at(body, "1.1"), part_at(body, "1.2")
    assert sliced(NESTED, plain) == b"plain text"
    assert sliced(NESTED, plain, "header_start", "body_start") == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert (plain["size"], plain["lines"]) == (10, 1)
    assert sliced(NESTED, html).startswith(b"<p>html")
    assert sliced(NESTED, part_at(body, "1")).endswith(b"--inner--\r\n")
    pdf = part_at(body, "2")
    assert sliced(NESTED, pdf) == b"JVBERi0="
    assert attachment_filename(pdf) == ATTACHMENT_2231
    assert attachment_filename(part_at(body, "3")) == "画像.png"
    assert sliced(NESTED, body).startswith(b"preamble\r\n--outer") and sliced(NESTED, body).endswith(b"epilogue")
    assert parsed.has_attachments
    assert parsed.search_body.split("\n")[:2] == ["plain text", "html & bold"]
    assert ATTACHMENT_2231 in parsed.search_body and "var x" not in parsed.search_body
    assert parsed.preview == "plain text"


def test_message_rfc822_part() -> None:
    """An encapsulated message has its own envelope and body tree with absolute offsets."""
    body = parse_message(RFC822).body
    assert part_at(body, "1")["params"] == [["charset", "us-ascii"]]  # RFC 2045 §5.2 default
    attached = part_at(body, "2")
    inner = attached["message"]
    assert inner["envelope"][1] == "inner"
    assert inner["envelope"][2] == [["Inner", None, "inner", "example.jp"]]
    assert sliced(RFC822, inner["body"], "header_start", "body_start").startswith(b"From: Inner")
    assert sliced(RFC822, part_at(body, "2.1")) == b"inner one"
    assert sliced(RFC822, part_at(body, "2.2")) == b"inner two"
    assert parse_message(RFC822).has_attachments


@pytest.mark.parametrize(
    ("raw", "leaf_body"),
    [(BROKEN_BOUNDARY, b"--elsewhere\r\n\r\ntext"), (NO_BOUNDARY, b"text")],
)
def test_unusable_boundary_is_a_single_text_part(raw: bytes, leaf_body: bytes) -> None:
    """A multipart whose boundary is missing or never occurs is one text/plain part."""
    body = parse_message(raw).body
    assert (body["type"], body["subtype"], "parts" in body) == ("text", "plain", False)
    assert sliced(raw, body) == leaf_body


def test_missing_final_boundary_ends_at_end_of_data() -> None:
    """Without a close-delimiter the last part runs to the end of the message."""
    body = parse_message(MISSING_FINAL).body
    assert [sliced(MISSING_FINAL, child) for child in body["parts"]] == [b"one", b"two\r\n"]


def test_digest_children_default_to_message() -> None:
    """RFC 2046 §5.1.5: parts of a multipart/digest default to message/rfc822."""
    raw = crlf("Content-Type: multipart/digest; boundary=d", "", "--d", "", "Subject: one", "", "x", "--d--")
    child = parse_message(raw).body["parts"][0]
    assert (child["type"], child["subtype"]) == ("message", "rfc822")
    assert child["message"]["envelope"][1] == "one"


def test_deep_nesting_is_bounded() -> None:
    """Past MAX_NESTING levels a multipart becomes an opaque leaf instead of recursing."""
    node = parse_message(deep(100)).body
    depth = 0
    while "parts" in node:
        node, depth = node["parts"][0], depth + 1
    assert depth == MAX_NESTING
    assert (node["type"], node["subtype"]) == ("application", "octet-stream")


def test_bare_lf_message_matches_crlf_one() -> None:
    """Bare-LF line endings parse like CRLF ones."""
    parsed, reference = parse_message(BARE_LF), parse_message(PLAIN)
    assert parsed.envelope == reference.envelope
    assert sliced(BARE_LF, parsed.body) == b"Hello,\nworld\n"
    assert bare_lf_mime(b"\n")[0] == bare_lf_mime(b"\r\n")[0]


def bare_lf_mime(eol: bytes) -> list[bytes]:
    raw = eol.join(
        [b"Content-Type: multipart/mixed; boundary=x", b"", b"--x", b"", b"a", b"--x  ", b"", b"b", b"--x--"]
    )
    return [raw[child["body_start"] : child["end"]] for child in parse_message(raw).body["parts"]]


@pytest.mark.parametrize("raw", [b"", HEADER_ONLY, b"\r\n", b"\r\n\r\nbody only"])
def test_degenerate_messages(raw: bytes) -> None:
    """Empty and header-only messages give an empty text/plain body at the end of the data."""
    parsed = parse_message(raw)
    assert parsed.body["type"] == "text" and parsed.body["end"] == len(raw)
    if raw in (b"", HEADER_ONLY):
        assert parsed.body["body_start"] == len(raw) and parsed.body["size"] == 0


def test_header_fields_keep_raw_bytes() -> None:
    """Fields keep their folding and line breaks for BODY[HEADER.FIELDS]; junk lines are skipped."""
    header = b"From foo Mon Jan 1\r\nSubject: a\r\n b\r\nX-Y : z\nbad line\r\n\r\nBody: no\r\n"
    assert header_fields(header) == [("Subject", b"Subject: a\r\n b\r\n"), ("X-Y", b"X-Y : z\n")]


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: hello", "hello"),
        ("RE: Fwd: [list] Re: Hello (fwd)", "hello"),
        ("Re[2]: x", "x"),
        ("[PATCH] fix", "fix"),
        ("Re: [PATCH]", "[patch]"),
        ("[Fwd: Re: topic]", "topic"),
        ("  spaced\t  out  ", "spaced out"),
        ("Reply", "reply"),
        ("", ""),
    ],
)
def test_subject_base(subject: str, base: str) -> None:
    """RFC 5256 §2.1 base subject, casefolded."""
    assert subject_base(subject) == base


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("Re: hello", True),
        ("Re[2]: x", True),
        ("Fwd: report", True),
        ("hello (fwd)", True),
        ("[Fwd: topic]", True),
        ("[list] Re: news", True),
        ("[PATCH] fix", False),
        ("Reply", False),
        ("Regards: none", False),
        ("", False),
    ],
)
def test_subject_is_reply(subject: str, reply: bool) -> None:
    """RFC 5256 §2.1: a reply or forward is one whose base subject extraction removed re/fwd."""
    assert subject_is_reply(subject) is reply


def test_references_fall_back_to_in_reply_to() -> None:
    """THREAD=REFERENCES uses References, else the first In-Reply-To id (RFC 5256 §2.2)."""
    raw = crlf("In-Reply-To: <a@x> <b@x>", "References: <r1@x>\r\n <r2@x> <r1@x>", "", "")
    assert parse_message(raw).references == ["<r1@x>", "<r2@x>"]
    assert parse_message(raw).in_reply_to == "<a@x>"
    assert parse_message(crlf("In-Reply-To: <a@x> <b@x>", "", "")).references == ["<a@x>"]


@pytest.mark.parametrize("date", ["garbage", "Mon, 99 Foo 99999 99:99:99 +9999", ""])
def test_bad_dates_are_none(date: str) -> None:
    """An unparsable Date is None, not an error."""
    assert parse_message(f"Date: {date}\r\n\r\n".encode()).date_sent is None


def check_structure(raw: bytes, parsed: Any) -> None:
    """Offsets lie within raw, children nest inside their parent body in order, all is JSON-able."""
    json.dumps([parsed.envelope, parsed.body])
    assert parsed.size == len(raw)

    def walk(node: dict[str, Any], low: int, high: int) -> None:
        assert low <= node["header_start"] <= node["body_start"] <= node["end"] <= high
        assert node["size"] == node["end"] - node["body_start"] and node["lines"] >= 0
        cursor = node["body_start"]
        for child in node.get("parts", []):
            walk(child, cursor, node["end"])
            cursor = child["end"]
        if "message" in node:
            walk(node["message"]["body"], node["body_start"], node["end"])

    walk(parsed.body, 0, len(raw))


def test_corpus_structure() -> None:
    """Every corpus message satisfies the structural invariants."""
    for raw in CORPUS:
        check_structure(raw, _parse(raw))


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(raw: bytes) -> None:
    """Random bytes never raise (the inner parser, not the safety net) and keep offsets sane."""
    check_structure(raw, _parse(raw))


_MIME_BYTES = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b"--", b"--outer", b"--inner--", b"=?", b"?=", b"=?utf-8?B?", b":", b";", b'"',
     b"<", b">", b"(", b"\x00", b"\x1b$B", b"\xff", b"boundary=", b"*0*=", b"%E8", b"Content-Type: multipart/mixed"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if action == "insert":
            raw[position:position] = draw(_MIME_BYTES | st.binary(max_size=8))
        elif action == "delete":
            del raw[position : position + draw(st.integers(1, 40))]
        else:
            raw[position:position] = raw[position : position + draw(st.integers(1, 200))]
    return bytes(raw)


@FUZZ
@given(mutated())
def test_fuzz_mutated_messages(raw: bytes) -> None:
    """Mutations of real-shaped messages never raise and keep offsets sane."""
    check_structure(raw, _parse(raw))


def test_preview_collapses_every_kind_of_whitespace_and_keeps_200_characters():
    body = ("Dear  team,\r\n\r\n\tthe\u00a0report\u3000is   attached.\r\n" + "word " * 100).encode()
    raw = b"From: a@example.org\r\nSubject: =?utf-8?q?Weekly=09report?=\r\n  (draft)\r\n\r\n" + body
    parsed = parse_message(raw)
    assert parsed.preview.startswith("Dear team, the report is attached. word word")
    assert len(parsed.preview) == 200 and "  " not in parsed.preview
    assert parsed.subject == "Weekly report (draft)"


def search_later_agrees(raw: bytes) -> None:
    """A parse for a store that indexes after the commit gives the same fields with no search text,
    and search_text on the stored BODYSTRUCTURE gives the text the full parse gives."""
    full, later = _parse(raw), _parse(raw, search=False)
    assert later == replace(full, search_body="")
    assert search_text(raw, later.body) == full.search_body


LONG_PLAIN = crlf("Subject: long", "Content-Type: text/plain; charset=utf-8", "", *(["  本文 " * 30] * 400))
LONG_HTML = crlf("Subject: html", "Content-Type: text/html", "", "<style>" + "p{}" * 3000 + "</style><p>hello</p>")
BLANK_START = crlf("Subject: blank", "", *([" \t "] * 3000), "the text after a long blank start")
QP_UTF8 = crlf(
    "Subject: qp utf-8",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    *(["caf=C3=A9 au lait, =E6=9C=AC=E6=96=87 =E3=81=A7=E3=81=99=\r\n" * 3] * 200),
)
BASE64_UTF8 = crlf(
    "Subject: base64 utf-8",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    base64.encodebytes(("日本語の本文\r\n" * 2000).encode()),
)
QP_CUT = crlf("Subject: qp", "Content-Transfer-Encoding: quoted-printable", "", *(["=E6=9C=AC=E6=96=87" * 12] * 200))


@pytest.mark.parametrize("raw", [*CORPUS, LONG_PLAIN, LONG_HTML, BLANK_START, QP_CUT, QP_UTF8, BASE64_UTF8])
def test_search_text_later_agrees_with_the_parse(raw: bytes) -> None:
    search_later_agrees(raw)


@FUZZ
@given(mutated())
def test_fuzz_search_text_later_agrees_with_the_parse(raw: bytes) -> None:
    search_later_agrees(raw)


@pytest.mark.parametrize(("raw", "short"), [(LONG_PLAIN, True), (QP_UTF8, True), (BASE64_UTF8, True), (QP_CUT, False)])
def test_a_long_part_decodes_only_its_start_when_that_is_safe(raw: bytes, short: bool) -> None:
    leaf = _parse(raw).body
    start = decode_part_start(raw, leaf, 1600)
    assert (start is not None) == short
    if start is not None:
        assert len(start) < len(decode_part_text(raw, leaf)) and len(start) > 1600
