"""Commands written in two pieces (the line, then its CRLF), as imapclient sends them."""

from __future__ import annotations

import socket
import statistics
import time

import pytest

from tests.agents.imap.conftest import ADDRESS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_command_split_from_its_crlf_is_answered_without_delayed_ack(imap):
    """A client with Nagle's algorithm on that writes "tag SEARCH ..." and then "\\r\\n" gets its
    answer at once: the server acknowledges the partial line immediately, so the CRLF is not held
    until the delayed-ACK timer (about 40 ms on Linux) fires."""
    imap.deliver(b"From: a@example.org\r\nSubject: split\r\n\r\nbody\r\n")
    sock = socket.create_connection((imap.host, imap.port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()

    def command(tag: str, text: str) -> list[bytes]:
        sock.sendall(f"{tag} {text}".encode())
        sock.sendall(b"\r\n")
        lines = []
        while True:
            line = reader.readline()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    assert command("a1", f'LOGIN {ADDRESS} "{PASSWORD}"')[-1].startswith(b"a1 OK")
    assert command("a2", "SELECT INBOX")[-1].startswith(b"a2 OK")
    timings = []
    for number in range(9):
        started = time.perf_counter()
        lines = command(f"s{number}", 'UID SEARCH SUBJECT "split"')
        timings.append((time.perf_counter() - started) * 1000)
        assert lines[0] == b"* SEARCH 1\r\n" and lines[-1].startswith(b"s%d OK" % number)
    sock.close()
    assert statistics.median(timings) < 25, timings
