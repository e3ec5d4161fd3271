"""The primer's scenario end to end: two Yubin instances, example.test on 127.0.0.2 and gmail.test
on 127.0.0.3, each with its MX on port 25, and a DNS server on loopback serving their MX, A, SPF,
DKIM and DMARC records.

taro@example.test submits to hanako@gmail.test (STARTTLS + AUTH); instance A's relay looks up
gmail.test's MX and delivers, DKIM-signed, from 127.0.0.2; instance B's MX checks SPF, DKIM and
DMARC and files the message in hanako's INBOX, where she reads it over IMAP and POP3. Her reply
travels the other way. Each instance is its own `python -m yubin.supervise` (web, agents, Celery
worker with beat) with its own data directory, SQLite database and filesystem broker.
"""

from __future__ import annotations

import email
import imaplib
import os
import poplib
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("agents.smtp.server", reason="the two-instance scenario needs the SMTP MX/submission server")

from tests.agents.mta.conftest import port_free
from tests.agents.smtp.conftest import client_tls
from tests.conftest import free_port
from tests.dnsserver import DnsServer

pytestmark = [pytest.mark.slow, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "two-instance-password"
PORT_NAMES = ("SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "SIEVE", "HTTP")


@dataclass
class Instance:
    domain: str
    address: str
    data_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    process: subprocess.Popen | None = None

    def manage(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, input=stdin, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        log = open(self.data_dir / "supervise.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yubin.supervise"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        for port in (25, self.ports["SUBMISSION"], self.ports["IMAP"], self.ports["POP3"]):
            while True:
                try:
                    socket.create_connection((self.address, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{self.domain}: nothing on {self.address}:{port}\n{self.log()}") from None
                    time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        path = self.data_dir / "supervise.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def submit(self, sender: str, recipient: str, subject: str, body: str, reply_to_id: str = "") -> None:
        headers = f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
        if reply_to_id:
            headers += f"In-Reply-To: {reply_to_id}\r\n"
        with smtplib.SMTP(self.address, self.ports["SUBMISSION"], timeout=30) as client:
            client.starttls(context=client_tls())
            client.login(sender, PASSWORD)
            client.sendmail(sender, [recipient], (headers + "\r\n" + body).encode())

    def imap_wait(self, address: str, subject: str, timeout: float = 90) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with imaplib.IMAP4(self.address, self.ports["IMAP"]) as imap:
                imap.starttls(client_tls())
                imap.login(address, PASSWORD)
                imap.select("INBOX")
                _, found = imap.search(None, "SUBJECT", f'"{subject}"')
                if found[0]:
                    _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                    return data[0][1]  # type: ignore[index]
            time.sleep(0.5)
        raise AssertionError(f"{subject!r} did not reach {address}\n{self.log()}")


def _instance(tmp: Path, domain: str, address: str, dns: DnsServer) -> Instance:
    data_dir = tmp / domain
    data_dir.mkdir()
    ports = {name: free_port() for name in PORT_NAMES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DATABASE_URL", "YUBIN_", "CELERY_"))}
    env.update({f"YUBIN_PORT_{name}": str(port) for name, port in ports.items()})
    env.update(
        DJANGO_SETTINGS_MODULE="yubin.settings",
        YUBIN_DATA_DIR=str(data_dir),
        YUBIN_BIND=address,
        YUBIN_PORT_SMTP="25",
        YUBIN_HOSTNAME=f"mx.{domain}",
        YUBIN_DEMO_DOMAIN=domain,
        YUBIN_DNS_RESOLVERS=dns.address,
        YUBIN_ALLOW_PLAINTEXT_LOOPBACK="1",
        YUBIN_RELAY_SWEEP_INTERVAL="2",
        CELERY_BROKER_URL="filesystem://",
    )
    instance = Instance(domain, address, data_dir, env, ports)
    instance.manage("migrate", "--noinput", "-v0")
    instance.manage("yubin", "domain", "add", domain)
    dkim_line = instance.manage("yubin", "dkim", "generate", domain).strip()
    name, _, rest = dkim_line.partition(". IN TXT ")
    dns.add(name, "TXT", "".join(rest.split('"')[1::2]))
    dns.add(domain, "MX", f"10 mx.{domain}.")
    dns.add(f"mx.{domain}", "A", address)
    dns.add(domain, "TXT", f"v=spf1 ip4:{address} -all")
    dns.add(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=reject; adkim=s; aspf=s")
    return instance


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory) -> Iterator[tuple[Instance, Instance]]:
    if os.geteuid() != 0:
        pytest.skip("binds port 25 on 127.0.0.2 and 127.0.0.3: needs root")
    for address in ("127.0.0.2", "127.0.0.3"):
        if not port_free(address, 25):
            pytest.skip(f"{address}:25 is in use by another process")
    dns = DnsServer(ttl=0).start()
    tmp = tmp_path_factory.mktemp("two-instances")
    instances = (_instance(tmp, "example.test", "127.0.0.2", dns), _instance(tmp, "gmail.test", "127.0.0.3", dns))
    try:
        instances[0].manage("yubin", "account", "add", "taro@example.test", "--password-stdin", stdin=PASSWORD + "\n")
        instances[1].manage("yubin", "account", "add", "hanako@gmail.test", "--password-stdin", stdin=PASSWORD + "\n")
        for instance in instances:
            instance.start()
        yield instances
    finally:
        for instance in instances:
            instance.stop()
        dns.stop()


def _auth_results(raw: bytes) -> str:
    return " ".join(str(v) for v in email.message_from_bytes(raw).get_all("Authentication-Results", []))


def test_taro_writes_to_hanako_and_she_replies(two_instances):
    """example.test → gmail.test over port 25 with dkim=pass spf=pass dmarc=pass; hanako reads it over
    IMAP and POP3; her reply comes back to taro the same way."""
    example, gmail = two_instances
    example.submit("taro@example.test", "hanako@gmail.test", "Ohayo Hanako", "Lunch at noon?\r\n")
    received = gmail.imap_wait("hanako@gmail.test", "Ohayo Hanako")
    results = _auth_results(received)
    assert "dkim=pass" in results and "spf=pass" in results and "dmarc=pass" in results, results
    assert b"Lunch at noon?" in received
    assert b"DKIM-Signature:" in received and b"d=example.test" in received
    pop = poplib.POP3(gmail.address, gmail.ports["POP3"], timeout=30)
    try:
        pop.stls(client_tls())
        pop.user("hanako@gmail.test")
        pop.pass_(PASSWORD)
        count, _size = pop.stat()
        assert count >= 1
        assert b"Ohayo Hanako" in b"\r\n".join(pop.retr(count)[1])
    finally:
        pop.quit()
    message_id = email.message_from_bytes(received)["Message-ID"] or ""
    gmail.submit("hanako@gmail.test", "taro@example.test", "Re: Ohayo Hanako", "Yes, noon.\r\n", message_id)
    reply = example.imap_wait("taro@example.test", "Re: Ohayo Hanako")
    results = _auth_results(reply)
    assert "dkim=pass" in results and "spf=pass" in results and "dmarc=pass" in results, results
    assert b"Yes, noon." in reply
