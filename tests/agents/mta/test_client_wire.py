"""The SMTP client against scripted servers: malformed and hostile replies end in a clear deferral,
never a crash; HELO fallback; a 5xx greeting; plus property tests for the reply and policy parsers."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.mta.client import Envelope, SmtpConnection, SmtpError, dot_stuff
from agents.mta.mta_sts import parse_policy


class ScriptedServer:
    """Answers each line the client sends with the next scripted reply bytes; records what it got."""

    def __init__(self, greeting: bytes, replies: dict[bytes, bytes]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.greeting = greeting
        self.replies = replies
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as reader:
            connection.sendall(self.greeting)
            for line in reader:
                self.received.append(line)
                verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
                reply = self.replies.get(verb)
                if reply is None:
                    return
                connection.sendall(reply)

    def close(self) -> None:
        self.listener.close()


def _open(server: ScriptedServer) -> SmtpConnection:
    return SmtpConnection.open(host="mx.test", address="127.0.0.1", port=server.port, helo_name="mail.test",
                               connect_timeout=5, command_timeout=5)  # fmt: skip


def test_ehlo_refused_falls_back_to_helo():
    """502 to EHLO: HELO is sent (RFC 5321 §3.2) and the session has no extensions."""
    server = ScriptedServer(b"220 old ESMTP\r\n", {b"EHLO": b"502 5.5.2 what?\r\n", b"HELO": b"250 ok\r\n"})
    connection = _open(server)
    assert connection.extensions == {}
    assert [line.split()[0] for line in server.received] == [b"EHLO", b"HELO"]
    connection.close()
    server.close()


def test_5xx_greeting_is_a_permanent_session_error():
    """A 554 greeting ends the attempt with a permanent error carrying the server's text."""
    server = ScriptedServer(b"554 5.7.1 go away\r\n", {})
    with pytest.raises(SmtpError) as caught:
        _open(server)
    assert caught.value.permanent and caught.value.reply == "554 5.7.1 go away"
    server.close()


@pytest.mark.parametrize(
    "reply",
    [b"hello\r\n", b"25\r\n", b"250x\r\n", b"", b"250-" + b"x" * 5000 + b"\r\n", "²50 ok\r\n".encode()],
    ids=["text", "short", "bad-separator", "closed", "overlong", "superscript-digit"],
)
def test_malformed_reply_to_mail_defers(reply):
    """Garbage, a closed connection or an endless line after MAIL: a 4xx SmtpError, not a crash."""
    server = ScriptedServer(b"220 ok\r\n", {b"EHLO": b"250 ok\r\n", b"MAIL": reply})
    connection = _open(server)
    with pytest.raises(SmtpError) as caught:
        connection.transaction(Envelope(sender="a@b.test", recipients=["c@d.test"], data=b"Subject: x\r\n\r\nx\r\n"))
    assert caught.value.reply.startswith("451 ") and not caught.value.permanent
    connection.close()
    server.close()


def test_multiline_replies_are_joined_per_recipient():
    """Multi-line RCPT replies are read whole; each recipient gets its own final reply."""
    server = ScriptedServer(
        b"220-first\r\n220 ok\r\n",
        {
            b"EHLO": b"250-mx.test\r\n250 SIZE 1000000\r\n",
            b"MAIL": b"250 2.1.0 ok\r\n",
            b"RCPT": b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n",
        },
    )
    connection = _open(server)
    replies = connection.transaction(Envelope(sender="a@b.test", recipients=["c@d.test"], data=b"x\r\n"))
    assert replies["c@d.test"].text == "550 5.1.1 no such user 5.1.1 really"
    assert connection.size_limit == 1000000
    connection.close()
    server.close()


@given(st.binary(max_size=400))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_dot_stuffing_round_trips(body):
    """Dot-stuffed data never contains a lone "." line before the end, and un-stuffing gives the CRLF body back."""
    stuffed = dot_stuff(body)
    assert stuffed.endswith(b"\r\n.\r\n")
    lines = stuffed[:-3].split(b"\r\n")
    assert b"." not in lines
    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    normalised = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not normalised.endswith(b"\r\n"):
        normalised += b"\r\n"
    assert unstuffed == normalised


@given(st.text(max_size=500))
@settings(max_examples=300)
def test_policy_parser_never_raises(text):
    """Any policy text parses to a Policy or None; enforce/testing need an mx line."""
    policy = parse_policy(text, "id")
    if policy is not None:
        assert policy.mode in ("enforce", "testing", "none")
        assert policy.mode == "none" or policy.mx_patterns


def test_policy_wildcards_match_one_label():
    """`*.example.com` matches mx.example.com, not example.com nor a.b.example.com (RFC 8461 §4.1)."""
    policy = parse_policy("version: STSv1\nmode: enforce\nmx: *.example.com\nmx: mail.other.test\nmax_age: 60\n", "1")
    assert policy is not None and policy.enforced
    assert policy.mx_allowed("mx.example.com") and policy.mx_allowed("MAIL.other.test.")
    assert not policy.mx_allowed("example.com") and not policy.mx_allowed("a.b.example.com")
