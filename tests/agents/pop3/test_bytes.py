"""Exact bytes: dot-stuffing, CRLF normalisation and LIST/STAT sizes equal to what RETR delivers."""

from __future__ import annotations

import pytest

from agents.multiline import crlf_normalize
from tests.agents.pop3.test_bad_input import Wire
from tests.conftest import PASSWORD

ADDRESS = "shiro@example.test"

TRICKY = [
    b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle.\r\n. \r\n",  # lines that look like the terminator
    b"Subject: bare LF\n\nline one\nline two\n.dot after LF\n",  # stored with LF only
    b"Subject: no final newline\r\n\r\nlast line without CRLF",
    b"Subject: mixed\r\n\r\na\nb\r\nc\r\r\nd\re\n",  # bare LF, CR CR LF and a lone CR
    b"Subject: empty body\r\n\r\n",
    b".Subject-like first line\r\n\r\nbody\r\n",
]


@pytest.fixture
def tricky_box(make_account, deliver):
    account = make_account(ADDRESS)
    for raw in TRICKY:
        deliver(account, raw)
    return account


def logged_in(pop3_server) -> Wire:
    wire = Wire(pop3_server)
    wire.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\n".encode())
    wire.line()
    wire.line()
    return wire


def unstuff(body: bytes) -> bytes:
    lines = body.split(b"\r\n")[:-1]
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@pytest.mark.parametrize("index", range(len(TRICKY)))
def test_retr_bytes_are_dot_stuffed_crlf(pop3_server, tricky_box, index):
    """RETR sends CRLF lines with leading dots doubled; unstuffed, it is the message with CRLF endings,
    and its length is exactly the size LIST and the +OK line announce."""
    number = index + 1
    expected = crlf_normalize(TRICKY[index])
    wire = logged_in(pop3_server)
    wire.send(f"LIST {number}\r\nRETR {number}\r\n".encode())
    assert wire.line() == f"+OK {number} {len(expected)}\r\n".encode()
    response = wire.multiline()
    first, _, rest = response.partition(b"\r\n")
    assert first == f"+OK {len(expected)} octets".encode()
    assert rest.endswith(b".\r\n")
    body = rest[: -len(b".\r\n")]
    stuffed_expected = b"".join(
        (b"." + line if line.startswith(b".") else line) + b"\r\n" for line in expected.split(b"\r\n")[:-1]
    )
    assert body == stuffed_expected
    assert unstuff(body) == expected
    wire.close()


def test_stat_is_sum_of_list(pop3_server, tricky_box):
    """STAT's octet count is the sum of the LIST sizes, which are the CRLF sizes."""
    wire = logged_in(pop3_server)
    wire.send(b"STAT\r\n")
    total = sum(len(crlf_normalize(raw)) for raw in TRICKY)
    assert wire.line() == f"+OK {len(TRICKY)} {total}\r\n".encode()
    wire.close()


def test_top_is_dot_stuffed(pop3_server, tricky_box):
    """TOP output is dot-stuffed too and ends with the terminator."""
    wire = logged_in(pop3_server)
    wire.send(b"TOP 1 3\r\n")
    response = wire.multiline()
    assert response == b"+OK Top of message follows\r\nSubject: dots\r\n\r\n..\r\n...\r\n..leading\r\n.\r\n"
    wire.close()


def test_large_message_streams_exactly(pop3_server, make_account, deliver):
    """A multi-megabyte message with LF endings and dot lines across read chunks arrives exact."""
    account = make_account("big@example.test")
    line = b".dot line " + b"x" * 70 + b"\n"
    raw = b"Subject: big\n\n" + line * 60_000  # about 4.8 MB, several read chunks
    deliver(account, raw)
    wire = Wire(pop3_server)
    wire.send(f"USER big@example.test\r\nPASS {PASSWORD}\r\nLIST 1\r\nRETR 1\r\n".encode())
    wire.line()
    wire.line()
    expected = crlf_normalize(raw)
    assert wire.line() == f"+OK 1 {len(expected)}\r\n".encode()
    response = wire.multiline()
    body = response.partition(b"\r\n")[2][: -len(b".\r\n")]
    assert unstuff(body) == expected
    wire.close()


def test_retr_in_any_order_returns_the_asked_message(pop3_server, tricky_box):
    """RETR prepares the next message ahead; asking out of order, or after DELE, still gets exactly
    the message named (or the error for a deleted one)."""
    wire = logged_in(pop3_server)
    for number in (1, 3, 2, 2, 6, 5, 4):
        wire.send(f"RETR {number}\r\n".encode())
        response = wire.multiline()
        body = response.partition(b"\r\n")[2][: -len(b".\r\n")]
        assert unstuff(body) == crlf_normalize(TRICKY[number - 1])
    wire.send(b"RETR 1\r\nDELE 2\r\nRETR 2\r\n")
    wire.multiline()
    assert wire.line().startswith(b"+OK")
    assert wire.line() == b"-ERR Message 2 is marked as deleted.\r\n"
    wire.close()
