"""Limits and bad input: BAD and the session goes on; fuzzed sessions in every state never crash."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD

COMMANDS = [b"NOOP", b"FETCH", b"UID", b"SEARCH", b"SELECT", b"STORE", b"LIST", b"APPEND", b"IDLE", b"XYZZY"]


def test_long_line_and_unknown_command(imap):
    """A 70 KB line gets BAD [TOOBIG]; unknown commands get BAD; the session still answers."""
    raw = imap.raw()
    raw.send(b"a1 NOOP " + b"x" * 70000 + b"\r\n")
    assert raw.line().startswith(b"* BAD [TOOBIG]")
    assert raw.command(b"a2", b"XYZZY")[-1] == b"a2 BAD Unknown command\r\n"
    assert raw.command(b"a3", b"FETCH 1 FLAGS")[-1] == b"a3 BAD Command not allowed in this state\r\n"
    assert raw.command(b"a4", b"NOOP")[-1] == b"a4 OK NOOP completed\r\n"


def test_huge_sequence_sets(imap):
    """1:4294967295 and *:* are cheap and valid."""
    imap.deliver(message("a"))
    raw = imap.raw()
    raw.command(b"a", b'LOGIN taro@example.test "correct horse battery staple"')
    raw.command(b"b", b"SELECT INBOX")
    assert raw.command(b"c", b"UID FETCH 1:4294967295 (FLAGS)")[-1].startswith(b"c OK")
    assert raw.command(b"d", b"FETCH *:* (FLAGS)")[0] == b"* 1 FETCH (FLAGS (\\Recent))\r\n"
    assert raw.command(b"e", b"FETCH 1:4294967296 (FLAGS)")[-1].startswith(b"e BAD")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    state=st.sampled_from(["none", "auth", "selected"]),
    lines=st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"{" not in b)),
        max_size=6,
    ),
)
def test_session_fuzz(imap, state, lines):
    """Random commands in every state get tagged replies; the server keeps serving other clients."""
    if state == "none":
        imap.deliver(message("fuzz"))
    raw = imap.raw()
    if state != "none":
        raw.command(b"s1", b'LOGIN taro@example.test "correct horse battery staple"')
    if state == "selected":
        raw.command(b"s2", b"SELECT INBOX")
    for index, (name, tail) in enumerate(lines):
        tag = b"f%d" % index
        raw.send(tag + b" " + name + b" " + tail.replace(b"\r", b"") + b"\r\n")
        if name == b"IDLE" and not tail.strip():
            raw.send(b"DONE\r\n")
        try:
            reply = raw.until_tagged(tag)
        except (TimeoutError, ConnectionError):
            break
        assert reply[-1].split(b" ")[1] in (b"OK", b"NO", b"BAD")
    raw.close()
    check = imap.raw()
    assert check.command(b"z", b"NOOP")[-1] == b"z OK NOOP completed\r\n"
    check.close()


def test_silent_client_is_logged_out(imap, monkeypatch):
    """A client that sends nothing is told why and closed (RFC 3501 §5.4): before login after the
    pre-authentication timeout, after login after the autologout timer."""
    from agents.imap import limits
    from agents.imap.protocol import response

    monkeypatch.setattr(limits, "PREAUTH_TIMEOUT_SECONDS", 0.4)
    monkeypatch.setattr(limits, "AUTOLOGOUT_SECONDS", 0.8)
    silent = imap.raw()
    started = time.monotonic()
    assert silent.line() == f"* BYE {response.AUTOLOGOUT}\r\n".encode()
    with pytest.raises(ConnectionError):
        silent.line()
    assert 0.3 < time.monotonic() - started < 5
    silent.close()

    client = imap.raw()
    assert client.command(b"a1", f'LOGIN {ADDRESS} "{PASSWORD}"'.encode())[-1].startswith(b"a1 OK")
    started = time.monotonic()
    assert client.line() == f"* BYE {response.AUTOLOGOUT}\r\n".encode()
    assert 0.7 < time.monotonic() - started < 5  # the longer, authenticated timer
    client.close()


def test_client_that_keeps_talking_is_not_logged_out(imap, monkeypatch):
    """The timer counts from the last command, not from the start of the session."""
    from agents.imap import limits

    monkeypatch.setattr(limits, "AUTOLOGOUT_SECONDS", 0.5)
    client = imap.raw()
    assert client.command(b"a1", f'LOGIN {ADDRESS} "{PASSWORD}"'.encode())[-1].startswith(b"a1 OK")
    for number in range(8):  # 1.6 s in all, three times the timer
        time.sleep(0.2)
        tag = b"n%d" % number
        assert client.command(tag, b"NOOP")[-1].startswith(tag + b" OK")
    client.close()


def test_numbers_in_other_scripts_are_bad(imap):
    """str.isdigit also takes '²' and other scripts' digits, which int() then refuses: the
    grammar's numbers are ASCII digits, so each of these is BAD and the session goes on."""
    imap.deliver(message())
    raw = imap.raw()
    raw.command(b"a", b"LOGIN " + ADDRESS.encode() + b' "' + PASSWORD.encode() + b'"')
    raw.command(b"b", b"ENABLE QRESYNC")
    assert raw.command(b"c", b"SELECT INBOX")[-1].startswith(b"c OK")
    for number, command in enumerate(
        [
            b"FETCH \xc2\xb2 (FLAGS)",
            b"FETCH 1 (FLAGS) (CHANGEDSINCE \xc2\xb2)",
            b"STORE 1 (UNCHANGEDSINCE \xd9\xa1) +FLAGS (\\Seen)",
            b"SEARCH \xc2\xb2",
            b"SEARCH LARGER \xd9\xa1",
            b"SEARCH MODSEQ \xc2\xb2",
            b"SELECT INBOX (QRESYNC (\xc2\xb2 1))",
        ]
    ):
        tag = b"n%d" % number
        assert raw.command(tag, command)[-1].startswith(tag + b" BAD "), command
    assert raw.command(b"z", b"NOOP")[-1] == b"z OK NOOP completed\r\n"
