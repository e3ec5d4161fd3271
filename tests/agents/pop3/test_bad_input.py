"""Bad input on the wire: long lines, pipelining, binary junk, idle clients (DESIGN rule 8)."""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.pop3 import replies
from agents.pop3.parser import MAX_LINE_OCTETS
from tests.agents.pop3.conftest import sample_message
from tests.conftest import PASSWORD

ADDRESS = "saburo@example.test"


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    for n in range(1, 4):
        deliver(account, sample_message(n))
    return account


class Wire:
    """A raw socket client, to send exactly the bytes a test needs."""

    def __init__(self, server) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.file.readline()

    def multiline(self) -> bytes:
        data = b""
        while True:
            line = self.file.readline()
            data += line
            if line in (b".\r\n", b""):
                return data

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_too_long_line_is_refused_and_session_continues(pop3_server, mailbox):
    """A line over the limit gets -ERR and is discarded whole; the next command works."""
    wire = Wire(pop3_server)
    wire.send(b"USER " + b"x" * (MAX_LINE_OCTETS * 3) + b"\r\nNOOP\r\nUSER " + ADDRESS.encode() + b"\r\n")
    assert wire.line() == (replies.LINE_TOO_LONG + "\r\n").encode()
    assert wire.line() == (replies.WRONG_STATE + "\r\n").encode()
    assert wire.line().startswith(b"+OK")
    wire.close()


def test_pipelined_commands_answered_in_order(pop3_server, mailbox):
    """PIPELINING (RFC 2449 §6.6): a batch of commands sent at once is answered in order."""
    wire = Wire(pop3_server)
    wire.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\nNOOP\r\nQUIT\r\n".encode())
    assert wire.line().startswith(b"+OK")
    assert wire.line() == (replies.LOGGED_IN + "\r\n").encode()
    sizes = [len(sample_message(n)) for n in range(1, 4)]
    assert wire.line() == f"+OK 3 {sum(sizes)}\r\n".encode()
    assert wire.multiline() == (
        b"+OK Scan list follows\r\n" + b"".join(f"{n} {s}\r\n".encode() for n, s in enumerate(sizes, 1)) + b".\r\n"
    )
    assert wire.multiline() == f"+OK {sizes[1]} octets\r\n".encode() + sample_message(2) + b".\r\n"
    assert wire.line() == (replies.DELE_OK + "\r\n").encode()
    assert wire.line() == b"+OK\r\n"
    assert wire.line() == b"+OK Logging out, 2 messages left.\r\n"
    assert wire.line() == b""
    wire.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00\x01\x02\r\n",
        b"\xff\xfe\xfd\r\n",
        b"\r\n",
        b"   \r\n",
        b"RETR\x001\r\n",
        b"\x1b[2J\r\n",
        b"LIST 1 2 3\r\n",
    ],
)
def test_junk_lines_get_err(pop3_server, mailbox, junk):
    """Binary junk, empty lines and extra arguments get -ERR; the session stays usable."""
    wire = Wire(pop3_server)
    wire.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\n".encode())
    wire.line()
    wire.line()
    wire.send(junk + b"NOOP\r\n")
    assert wire.line().startswith(b"-ERR ")
    assert wire.line() == b"+OK\r\n"
    wire.close()


def test_lf_only_lines_are_accepted(pop3_server, mailbox):
    """A client ending lines with bare LF is understood."""
    wire = Wire(pop3_server)
    wire.send(f"USER {ADDRESS}\nPASS {PASSWORD}\nSTAT\n".encode())
    wire.line()
    assert wire.line() == (replies.LOGGED_IN + "\r\n").encode()
    assert wire.line().startswith(b"+OK 3 ")
    wire.close()


def test_idle_client_is_disconnected(pop3_server, mailbox, monkeypatch):
    """After the inactivity timer the server says why and closes (RFC 1939 §3 autologout)."""
    from agents.pop3 import session

    monkeypatch.setattr(session, "IDLE_TIMEOUT_SECONDS", 0.3)
    wire = Wire(pop3_server)
    assert wire.line() == (replies.IDLE_TIMEOUT + "\r\n").encode()
    assert wire.line() == b""
    wire.close()


def test_connection_closed_mid_command(pop3_server, mailbox):
    """A client that vanishes mid-line leaves the server serving others."""
    wire = Wire(pop3_server)
    wire.send(b"USER half")
    wire.close()
    client = pop3_server.login(ADDRESS)
    assert client.stat()[0] == 3
    client.quit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.binary(min_size=0, max_size=300).filter(
            lambda b: b"\n" not in b and not b.lstrip().upper().startswith(b"QUIT")
        ),
        min_size=1,
        max_size=5,
    )
)
def test_fuzzed_lines_in_transaction_state(pop3_server, mailbox, lines):
    """Random lines after login get one +OK or -ERR line each (or a multi-line answer) and the
    session survives; after RSET and QUIT every message is still there."""
    wire = Wire(pop3_server)
    wire.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\n".encode())
    wire.line()
    assert wire.line() == (replies.LOGGED_IN + "\r\n").encode()
    for line in lines:
        wire.send(line + b"\r\n")
        first = wire.line()
        assert first.startswith((b"+OK", b"-ERR")), first
        keyword = line.lstrip(b" ").split(b" ", 1)[0].upper()
        if (
            first.startswith(b"+OK")
            and keyword in (b"LIST", b"UIDL", b"RETR", b"TOP", b"CAPA")
            and (keyword in (b"RETR", b"TOP", b"CAPA") or len(line.split()) == 1)
        ):
            wire.multiline()
    wire.send(b"NOOP\r\nRSET\r\nQUIT\r\n")
    assert wire.line() == b"+OK\r\n"
    assert wire.line().startswith(b"+OK")
    assert wire.line() == b"+OK Logging out, 3 messages left.\r\n"
    wire.close()


def test_overlong_sasl_answer(pop3_server, mailbox):
    """An overlong line in place of the AUTH PLAIN answer gets -ERR; the session continues."""
    wire = Wire(pop3_server)
    wire.send(b"AUTH PLAIN\r\n")
    assert wire.line() == b"+ \r\n"
    wire.send(b"A" * (MAX_LINE_OCTETS * 2) + b"\r\nNOOP\r\n")
    assert wire.line() == (replies.AUTH_BAD_RESPONSE + "\r\n").encode()
    assert wire.line() == (replies.WRONG_STATE + "\r\n").encode()
    wire.close()


def test_eof_at_sasl_prompt_ends_the_session(pop3_server, mailbox):
    """A client that half-closes while the server waits for its SASL response gets the
    connection closed, not a session left hanging."""
    import socket as socket_module

    wire = Wire(pop3_server)
    wire.send(b"AUTH PLAIN\r\n")
    assert wire.line() == b"+ \r\n"
    wire.sock.shutdown(socket_module.SHUT_WR)
    assert wire.line() == b""
    wire.close()
