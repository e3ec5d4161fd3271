"""The whole system as `make run` starts it: supervisor, web, agents and worker in real processes.

This is the issue's "done when" walk: an operator adds accounts with the CLI against the running
system, a client submits mail with STARTTLS + AUTH, the recipient reads it over IMAP and POP3,
relaying is refused, and SIGTERM stops everything.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.dnsserver import DnsServer

ROOT = Path(__file__).resolve().parent.parent
PORT_NAMES = ("SMTP", "SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "SIEVE", "HTTP")


@dataclass
class RunningSystem:
    env: dict[str, str]
    ports: dict[str, int]
    admin_password: str
    process: subprocess.Popen[bytes]

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "yubin", *args],
            cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True, timeout=120,
        )  # fmt: skip


def _postgres_database(url: str) -> tuple[str, str]:
    """A fresh database beside the configured one: (its URL, its name)."""
    import psycopg

    name = f"yubin_system_{uuid.uuid4().hex[:10]}"
    base, _, _ = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}", name


def _drop_postgres_database(url: str, name: str) -> None:
    import psycopg

    base, _, _ = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    data_dir = tmp_path_factory.mktemp("system")
    ports = {name: free_port() for name in PORT_NAMES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({f"YUBIN_PORT_{name}": str(port) for name, port in ports.items()})
    env.update(
        DJANGO_SETTINGS_MODULE="yubin.settings",
        YUBIN_DATA_DIR=str(data_dir),
        YUBIN_HOSTNAME="mail.example.test",
        YUBIN_DEMO_DOMAIN="example.test",
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "filesystem://"),
    )
    # A DNS server of the test's own: the unreachable domain's MX points at a loopback port where
    # nothing listens, so the relay defers it (connection refused) instead of depending on this
    # machine's resolver.
    dns = DnsServer(
        {
            "unreachable.test": [("MX", "10 mx.unreachable.test.")],
            "mx.unreachable.test": [("A", "127.0.0.1")],
        }
    ).start()
    env["YUBIN_DNS_RESOLVERS"] = dns.address
    env["YUBIN_RELAY_PORT"] = str(free_port())
    dropped: tuple[str, str] | None = None
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        url, name = _postgres_database(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = url
        dropped = (os.environ["DATABASE_URL"], name)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    boot = subprocess.run(
        [sys.executable, "manage.py", "yubin", "bootstrap"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert boot.returncode == 0, boot.stderr
    assert "admin@example.test" in boot.stdout
    admin_password = boot.stdout.split("password (shown once):")[1].split()[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "yubin.supervise"], cwd=ROOT, env=env,
        stdout=open(data_dir / "supervise.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        for name in ("SMTP", "SUBMISSION", "IMAP", "POP3", "HTTP"):
            _wait_for_port(ports[name], deadline)
        yield RunningSystem(env, ports, admin_password, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if dropped:
            _drop_postgres_database(*dropped)
        dns.stop()


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_bootstrap_admin_can_log_in_over_imap(system: RunningSystem) -> None:
    """The superadmin printed by the first run exists and its password works."""
    with imaplib.IMAP4("127.0.0.1", system.ports["IMAP"]) as imap:
        imap.starttls(tls_context())
        assert imap.login("admin@example.test", system.admin_password)[0] == "OK"


def test_cli_submission_imap_and_pop3(system: RunningSystem) -> None:
    """Accounts added with the CLI against the running system get mail submitted with STARTTLS + AUTH."""
    for address in ("taro@example.test", "hanako@example.test"):
        added = system.cli("account", "add", address, "--password-stdin", stdin="system-test-pw\n")
        assert added.returncode == 0, added.stderr
    subject = f"system test {uuid.uuid4().hex[:8]}"
    with smtplib.SMTP("127.0.0.1", system.ports["SUBMISSION"], timeout=30) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("taro@example.test", "system-test-pw")
        refused = smtp.sendmail(
            "taro@example.test",
            ["hanako@example.test"],
            f"From: taro@example.test\r\nTo: hanako@example.test\r\nSubject: {subject}\r\n\r\nこんにちは\r\n".encode(),
        )
        assert refused == {}
    with imaplib.IMAP4("127.0.0.1", system.ports["IMAP"]) as imap:
        imap.starttls(tls_context())
        imap.login("hanako@example.test", "system-test-pw")
        imap.select("INBOX")
        status, data = imap.uid("SEARCH", "SUBJECT", subject.split()[-1])
        assert status == "OK" and data[0].split(), "the submitted message is in hanako's INBOX"
    pop = poplib.POP3("127.0.0.1", system.ports["POP3"], timeout=30)
    try:
        pop.stls(tls_context())
        pop.user("hanako@example.test")
        pop.pass_("system-test-pw")
        count, _ = pop.stat()
        assert count >= 1
        assert subject.encode() in b"\r\n".join(pop.retr(count)[1])
    finally:
        pop.quit()


def managesieve_put_active(port: int, address: str, password: str, name: str, script: str) -> None:
    """Upload and activate a script with ManageSieve (RFC 5804) after STARTTLS, as Thunderbird's add-on does."""
    import base64

    def read_until_ok(stream: Any) -> bytes:
        seen = b""
        while True:
            line = stream.readline()
            assert line, "connection closed"
            seen += line
            if line.startswith((b"OK", b"NO", b"BYE")):
                assert line.startswith(b"OK"), seen
                return seen

    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    plain = raw.makefile("rwb")
    read_until_ok(plain)
    plain.write(b"STARTTLS\r\n")
    plain.flush()
    read_until_ok(plain)
    tls = tls_context().wrap_socket(raw, server_hostname="mail.example.test")
    stream = tls.makefile("rwb")
    read_until_ok(stream)
    credentials = base64.b64encode(f"\0{address}\0{password}".encode()).decode()
    body = script.encode()
    for command in (
        f'AUTHENTICATE "PLAIN" "{credentials}"\r\n'.encode(),
        f'PUTSCRIPT "{name}" {{{len(body)}+}}\r\n'.encode() + body + b"\r\n",
        f'SETACTIVE "{name}"\r\n'.encode(),
    ):
        stream.write(command)
        stream.flush()
        read_until_ok(stream)
    stream.write(b"LOGOUT\r\n")
    stream.flush()
    tls.close()


def test_sieve_rule_files_the_next_mail(system: RunningSystem) -> None:
    """A rule uploaded over ManageSieve files the next mail into its folder (created on demand)."""
    added = system.cli("account", "add", "jiro@example.test", "--password-stdin", stdin="system-test-pw\n")
    assert added.returncode == 0, added.stderr
    script = 'require ["fileinto", "mailbox"];\nif header :contains "subject" "invoice" { fileinto :create "Bills"; }\n'
    managesieve_put_active(system.ports["SIEVE"], "jiro@example.test", "system-test-pw", "rules", script)
    with smtplib.SMTP("127.0.0.1", system.ports["SMTP"], timeout=30) as smtp:
        smtp.ehlo("sender.example.net")
        smtp.sendmail(
            "billing@shop.example.net",
            ["jiro@example.test"],
            b"From: billing@shop.example.net\r\nTo: jiro@example.test\r\nSubject: Your invoice 42\r\n\r\nPay.\r\n",
        )
    with imaplib.IMAP4("127.0.0.1", system.ports["IMAP"]) as imap:
        imap.starttls(tls_context())
        imap.login("jiro@example.test", "system-test-pw")
        status, data = imap.select('"Bills"', readonly=True)
        assert status == "OK" and int(data[0]) == 1
        status, data = imap.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0]) == 0


def test_remote_recipient_waits_in_the_queue(system: RunningSystem) -> None:
    """Mail to a domain whose MX refuses connections is deferred and shows in `yubin queue list`
    with its next retry, after the worker's first attempt."""
    added = system.cli("account", "add", "saburo@example.test", "--password-stdin", stdin="system-test-pw\n")
    assert added.returncode == 0, added.stderr
    with smtplib.SMTP("127.0.0.1", system.ports["SUBMISSION"], timeout=30) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("saburo@example.test", "system-test-pw")
        smtp.sendmail(
            "saburo@example.test",
            ["someone@unreachable.test"],
            b"From: saburo@example.test\r\nTo: someone@unreachable.test\r\nSubject: out\r\n\r\nhello\r\n",
        )
    deadline = time.monotonic() + 30
    while True:
        listing = system.cli("queue", "list")
        assert listing.returncode == 0, listing.stderr
        if "saburo@example.test" in listing.stdout and "4.4.1" in listing.stdout:
            break
        assert time.monotonic() < deadline, f"never deferred by the worker:\n{listing.stdout}"
        time.sleep(1)
    queue_id = next(line.split()[0] for line in listing.stdout.splitlines() if "saburo@example.test" in line)
    shown = system.cli("queue", "show", queue_id)
    assert "someone@unreachable.test" in shown.stdout and "deferred" in shown.stdout


def test_mx_refuses_relaying(system: RunningSystem) -> None:
    with smtplib.SMTP("127.0.0.1", system.ports["SMTP"], timeout=30) as smtp:
        smtp.ehlo("relay-tester.example.net")
        smtp.mail("spammer@example.net")
        code, reply = smtp.rcpt("victim@elsewhere.example.org")
        assert code == 554 and b"5.7.1" in reply


def test_web_answers(system: RunningSystem) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{system.ports['HTTP']}/admin/login/", timeout=30) as response:
        assert response.status == 200


def test_sigterm_stops_everything(system: RunningSystem) -> None:
    """SIGTERM to the supervisor stops web, agents and worker, and it exits."""
    system.process.send_signal(signal.SIGTERM)
    assert system.process.wait(30) == 0
    for name in ("SMTP", "IMAP", "HTTP"):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", system.ports[name]), timeout=1).close()
