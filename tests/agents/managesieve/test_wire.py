"""ManageSieve on the wire: literals, quoting, states, SASL exchanges and bad input (RFC 5804 §2, §4)."""

from __future__ import annotations

import base64

import pytest

from agents.managesieve.parser import MAX_LINE_OCTETS, MAX_LITERAL_OCTETS
from tests.agents.managesieve.conftest import ADDRESS
from tests.conftest import PASSWORD

SCRIPT = b'require ["fileinto"];\r\nfileinto "Archive";\r\n'


def plain(address: str = ADDRESS, password: str = PASSWORD) -> bytes:
    return base64.b64encode(f"\0{address}\0{password}".encode())


def logged_in(sieve_server):
    wire = sieve_server.raw()
    assert wire.command(b'AUTHENTICATE "PLAIN" "' + plain() + b'"\r\n')[-1].startswith(b"OK")
    return wire


def test_greeting_is_capabilities_then_ok(sieve_server, account):
    """The server speaks first with its capabilities and an OK (RFC 5804 §1.7)."""
    wire = sieve_server.raw()
    assert wire.greeting[0] == b'"IMPLEMENTATION" "Yubin"\r\n'
    assert b'"STARTTLS"\r\n' in wire.greeting
    assert wire.greeting[-1] == b'OK "Yubin ManageSieve ready."\r\n'
    wire.close()


@pytest.mark.parametrize("marker", [b"+", b""])
def test_putscript_with_literals(sieve_server, account, marker):
    """PUTSCRIPT takes the script as a literal, non-synchronising {n+} or synchronising {n},
    and GETSCRIPT returns it byte-exact as a literal."""
    wire = logged_in(sieve_server)
    command = b'PUTSCRIPT "lit" {%d%s}\r\n%s\r\n' % (len(SCRIPT), marker, SCRIPT)
    assert wire.command(command) == [b'OK "Script stored."\r\n']
    wire.send(b'GETSCRIPT "lit"\r\n')
    assert wire.line() == b"{%d}\r\n" % len(SCRIPT)
    body = b""
    while len(body) < len(SCRIPT) + 2:
        body += wire.line()
    assert body == SCRIPT + b"\r\n"
    assert wire.response() == [b'OK "Getscript completed."\r\n']
    wire.close()


def test_script_name_as_literal_and_quoted_escapes(sieve_server, account):
    """A name may be a literal; quoted strings unescape \\" and \\\\."""
    wire = logged_in(sieve_server)
    name = b'a "quoted" \\ name'
    assert wire.command(b"PUTSCRIPT {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(name), name, len(SCRIPT), SCRIPT))[
        -1
    ].startswith(b"OK")
    listing = wire.command(b"LISTSCRIPTS\r\n")
    assert listing == [b'"a \\"quoted\\" \\\\ name"\r\n', b'OK "Listscripts completed."\r\n']
    assert wire.command(b'DELETESCRIPT "a \\"quoted\\" \\\\ name"\r\n')[-1].startswith(b"OK")
    wire.close()


def test_response_codes(sieve_server, account):
    """NONEXISTENT, ACTIVE, ALREADYEXISTS and QUOTA/MAXSIZE codes (RFC 5804 §1.3)."""
    wire = logged_in(sieve_server)
    assert wire.command(b'GETSCRIPT "none"\r\n')[-1].startswith(b"NO (NONEXISTENT)")
    wire.command(b'PUTSCRIPT "a" {%d+}\r\n%s\r\n' % (len(SCRIPT), SCRIPT))
    wire.command(b'PUTSCRIPT "b" {%d+}\r\n%s\r\n' % (len(SCRIPT), SCRIPT))
    wire.command(b'SETACTIVE "a"\r\n')
    assert wire.command(b'DELETESCRIPT "a"\r\n')[-1].startswith(b"NO (ACTIVE)")
    assert wire.command(b'RENAMESCRIPT "b" "a"\r\n')[-1].startswith(b"NO (ALREADYEXISTS)")
    assert wire.command(b'HAVESPACE "c" 999999999\r\n')[-1].startswith(b"NO (QUOTA/MAXSIZE)")
    assert wire.command(b'HAVESPACE "c" 100\r\n')[-1].startswith(b"OK")
    wire.close()


def test_noop_echoes_tag(sieve_server, account):
    """NOOP with a string answers OK (TAG "...") (RFC 5804 §2.15), in either state."""
    wire = sieve_server.raw()
    assert wire.command(b'NOOP "abc"\r\n') == [b'OK (TAG "abc") "Done."\r\n']
    wire.close()


def test_commands_need_the_right_state(sieve_server, account):
    """Script commands before login and AUTHENTICATE/STARTTLS after it get NO; the session goes on."""
    wire = sieve_server.raw()
    for command in (b"LISTSCRIPTS\r\n", b'GETSCRIPT "x"\r\n', b"UNAUTHENTICATE\r\n"):
        assert wire.command(command) == [b'NO "Authenticate first."\r\n']
    wire.command(b'AUTHENTICATE "PLAIN" "' + plain() + b'"\r\n')
    assert wire.command(b"STARTTLS\r\n") == [b'NO "Already authenticated."\r\n']
    assert wire.command(b'AUTHENTICATE "PLAIN" "x"\r\n') == [b'NO "Already authenticated."\r\n']
    assert wire.command(b"UNAUTHENTICATE\r\n") == [b'OK "Unauthenticated."\r\n']
    assert wire.command(b"LISTSCRIPTS\r\n") == [b'NO "Authenticate first."\r\n']
    wire.close()


def test_authenticate_without_initial_response(sieve_server, account):
    """Without an initial response the server sends an empty challenge and takes a string (RFC 5804 §2.1)."""
    wire = sieve_server.raw()
    wire.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert wire.line() == b'""\r\n'
    assert wire.command(b'"' + plain() + b'"\r\n') == [b'OK "Logged in."\r\n']
    wire.close()


def test_authenticate_cancel_and_bad_input(sieve_server, account):
    """ "*" cancels; bad base64, unknown mechanisms and wrong passwords get NO."""
    wire = sieve_server.raw()
    wire.send(b'AUTHENTICATE "PLAIN"\r\n')
    wire.line()
    assert wire.command(b'"*"\r\n') == [b'NO "Authentication cancelled."\r\n']
    assert wire.command(b'AUTHENTICATE "PLAIN" "!!!"\r\n') == [b'NO "Invalid SASL response."\r\n']
    assert wire.command(b'AUTHENTICATE "DIGEST-MD5"\r\n') == [b'NO "Unsupported authentication mechanism."\r\n']
    assert wire.command(b'AUTHENTICATE "PLAIN" "' + plain(password="wrong") + b'"\r\n') == [
        b'NO "Authentication failed."\r\n'
    ]
    wire.close()


def test_three_failures_end_the_connection(sieve_server, account):
    """The third failed login on a connection is answered with BYE."""
    wire = sieve_server.raw()
    for _ in range(2):
        wire.command(b'AUTHENTICATE "PLAIN" "' + plain(password="wrong") + b'"\r\n')
    assert wire.command(b'AUTHENTICATE "PLAIN" "' + plain(password="wrong") + b'"\r\n')[-1].startswith(b"BYE")
    assert wire.line() == b""
    wire.close()


def test_encrypt_needed_off_loopback(sieve_server, account, settings):
    """Without TLS and without the loopback exemption, AUTHENTICATE gets NO (ENCRYPT-NEEDED)."""
    settings.YUBIN_ALLOW_PLAINTEXT_LOOPBACK = False
    wire = sieve_server.raw()
    assert b'"SASL" ""\r\n' in wire.greeting
    assert wire.command(b'AUTHENTICATE "PLAIN" "' + plain() + b'"\r\n')[-1].startswith(b"NO (ENCRYPT-NEEDED)")
    wire.close()


def test_starttls_injection_refused(sieve_server, account):
    """Commands pipelined behind STARTTLS in plaintext end the connection instead of running."""
    wire = sieve_server.raw()
    response = wire.command(b"STARTTLS\r\nLISTSCRIPTS\r\n")
    assert response[-1].startswith(b"BYE")
    wire.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"\r\n",
        b"XYZZY\r\n",
        b'"quoted-command"\r\n',
        b'PUTSCRIPT "unterminated\r\n',
        b'NOOP "bad \\escape"\r\n',
        b"NOOP \x00\x01\r\n",
        b'GETSCRIPT "a" "b"\r\n',
    ],
)
def test_junk_gets_no_and_session_continues(sieve_server, account, junk):
    """Malformed commands get NO; the next command works."""
    wire = logged_in(sieve_server)
    assert wire.command(junk)[-1].startswith(b"NO ")
    assert wire.command(b"NOOP\r\n") == [b'OK "Done."\r\n']
    wire.close()


def test_bad_line_with_literal_consumes_the_literal(sieve_server, account):
    """A malformed command that ends in a literal has the literal skipped, not run as commands."""
    wire = logged_in(sieve_server)
    payload = b"LOGOUT\r\n"
    assert wire.command(b"PUTSCRIPT !bad {%d+}\r\n%s\r\n" % (len(payload), payload))[-1].startswith(b"NO ")
    assert wire.command(b"NOOP\r\n") == [b'OK "Done."\r\n']
    wire.close()


def test_long_line_and_huge_literal(sieve_server, account):
    """An overlong line gets NO and is skipped; a literal over the limit gets BYE."""
    wire = logged_in(sieve_server)
    assert wire.command(b"NOOP " + b"x" * (MAX_LINE_OCTETS * 2) + b"\r\n") == [b'NO "Command line too long."\r\n']
    assert wire.command(b"NOOP\r\n") == [b'OK "Done."\r\n']
    assert wire.command(b'PUTSCRIPT "big" {%d+}\r\n' % (MAX_LITERAL_OCTETS + 1))[-1].startswith(b"BYE")
    wire.close()


def test_error_budget(sieve_server, account):
    """The twentieth bad command ends the session with BYE."""
    wire = sieve_server.raw()
    for _ in range(19):
        assert wire.command(b"XYZZY\r\n")[-1].startswith(b"NO")
    assert wire.command(b"XYZZY\r\n")[-1].startswith(b"BYE")
    wire.close()


def test_logout(sieve_server, account):
    """LOGOUT answers OK and the server closes the connection."""
    wire = sieve_server.raw()
    assert wire.command(b"LOGOUT\r\n") == [b'OK "Logging out."\r\n']
    assert wire.line() == b""
    wire.close()


def test_overlong_sasl_answer(sieve_server, account):
    """An overlong line in place of the SASL answer gets NO and the session continues."""
    wire = sieve_server.raw()
    wire.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert wire.line() == b'""\r\n'
    assert wire.command(b'"' + b"A" * (MAX_LINE_OCTETS * 2) + b'"\r\n') == [b'NO "Command line too long."\r\n']
    assert wire.command(b"NOOP\r\n") == [b'OK "Done."\r\n']
    wire.close()
