"""DKIM keys from the CLI, signatures that verify at the receiver, and relaying to Postfix's smtp-sink."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from io import StringIO
from pathlib import Path

import dkim
import pytest
from django.core.management import call_command

from agents.dns import resolver
from agents.mta.queue import relay_message
from store.models import OutboundRecipient
from tests.agents.mta.conftest import message

SMTP_SINK = "/usr/sbin/smtp-sink"


def _yubin(*args: str) -> str:
    out = StringIO()
    call_command("yubin", *args, stdout=out)
    return out.getvalue().strip()


def _publish(relay_env, zone_line: str) -> None:
    """Put the printed zone-file line into the test DNS server, as an operator would."""
    name, _, rest = zone_line.partition(". IN TXT ")
    value = "".join(part for part in rest.split('"')[1::2])
    relay_env.dns.add(name, "TXT", value)


def _dnsfunc(name: bytes, timeout: int = 5) -> bytes:
    answer = resolver().resolve(name.decode().rstrip("."), "TXT")
    return b"".join(next(iter(answer)).strings)


def test_generate_prints_one_zone_file_line_and_show_repeats_it(relay_env):
    """`yubin dkim generate` prints SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=rsa; p=..."; show prints it again."""
    line = _yubin("dkim", "generate", "example.test")
    assert "\n" not in line
    assert line.startswith("y") and '._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=' in line
    assert _yubin("dkim", "show", "example.test") == line
    # 2048-bit RSA: the base64 SubjectPublicKeyInfo is 392 characters, cut into 255-byte strings.
    value = "".join(line.split('"')[1::2])
    assert len(value.split("p=")[1]) == 392
    second = _yubin("dkim", "generate", "example.test", "--algorithm", "ed25519")
    assert 'IN TXT "v=DKIM1; k=ed25519; p=' in second and second.split(".")[0] != line.split(".")[0]
    assert _yubin("dkim", "show", "example.test") == second


def test_dkim_generate_for_unknown_domain_fails_cleanly(relay_env):
    """An unknown domain is a one-line CLI error with exit status 1."""
    with pytest.raises(SystemExit) as caught:
        _yubin("dkim", "generate", "unknown.test")
    assert caught.value.code == 1


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_relayed_mail_carries_a_signature_that_verifies(relay_env, algorithm):
    """Mail from a local domain is signed (relaxed/relaxed) and verifies against the published key."""
    _publish(relay_env, _yubin("dkim", "generate", "example.test", "--algorithm", algorithm))
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    data = relay_env.sink.received[0].data
    assert data.startswith(b"DKIM-Signature: v=1; a=" + (b"rsa-sha256" if algorithm == "rsa" else b"ed25519-sha256"))
    assert b"c=relaxed/relaxed" in data and b"d=example.test" in data
    assert dkim.verify(data, dnsfunc=_dnsfunc)


def test_mail_of_a_foreign_domain_is_not_signed(relay_env):
    """A sender of a domain without a key (e.g. a forwarded message) goes out unsigned."""
    _yubin("dkim", "generate", "example.test")
    outbound = relay_env.enqueue(raw=message(sender="someone@elsewhere.test"), sender="someone@elsewhere.test")
    relay_message(outbound.pk)
    assert not relay_env.sink.received[0].data.startswith(b"DKIM-Signature")


@pytest.fixture
def smtp_sink(relay_env, settings):
    """Postfix's smtp-sink on loopback without 8BITMIME, dumping each transaction into a file."""
    if not Path(SMTP_SINK).exists():
        pytest.skip("Postfix's smtp-sink is not installed")
    relay_env.sink.stop()
    # smtp-sink drops root privileges: the dump directory must be reachable by "nobody".
    dump = Path(tempfile.mkdtemp(prefix="yubin-sink-"))
    os.chmod(dump, 0o777)
    port = relay_env.sink.port
    command = [SMTP_SINK, "-8", "-d", f"{dump}/%M.", f"127.0.0.1:{port}", "64"]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield dump
    finally:
        process.terminate()
        process.wait(10)
        relay_env.sink.start()
        shutil.rmtree(dump, ignore_errors=True)


def _dumps(dump: Path, count: int) -> list[bytes]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        files = sorted(dump.glob("*"))
        if len(files) >= count:
            time.sleep(0.1)
            return [f.read_bytes() for f in files]
        time.sleep(0.05)
    raise AssertionError("smtp-sink did not dump the message")


def test_relay_to_smtp_sink_pipelines_and_downgrades_8bit_body(relay_env, smtp_sink):
    """smtp-sink (PIPELINING, no 8BITMIME): three recipients in one transaction, the UTF-8 body
    re-encoded quoted-printable before signing, and the signature still verifies."""
    _publish(relay_env, _yubin("dkim", "generate", "example.test"))
    raw = message(body="こんにちは、花子さん。\r\n.dot line\r\n", subject="8bit")
    outbound = relay_env.enqueue("a@remote.test", "b@remote.test", "c@remote.test", raw=raw, body_8bit=True)
    relay_message(outbound.pk)
    assert set(OutboundRecipient.objects.filter(message=outbound).values_list("state", flat=True)) == {"sent"}
    [dumped] = _dumps(smtp_sink, 1)
    head, _, message_bytes = dumped.replace(b"\r\n", b"\n").partition(b"Received:")
    assert head.count(b"X-Rcpt-Args:") == 3
    assert b"BODY=8BITMIME" not in head
    signed = (b"Received:" + message_bytes).replace(b"\n", b"\r\n")
    assert b"Content-Transfer-Encoding: quoted-printable" in signed
    assert all(byte < 128 for byte in signed)
    assert dkim.verify(signed, dnsfunc=_dnsfunc)
    import email

    assert "こんにちは" in email.message_from_bytes(signed).get_payload(decode=True).decode()


def test_openssl_rsa_signature_is_the_same_as_dkimpys_own():
    """RSA signing goes through OpenSSL with the key parsed once; PKCS#1 v1.5 is deterministic,
    so the signature bytes equal those of dkimpy's own pure-Python signer for the same digest."""
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from agents.mta import dkim as mta_dkim

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    wrapped = mta_dkim._OpenSslKey(pem)
    wrapped.key = serialization.load_pem_private_key(pem, password=None)  # type: ignore[assignment]
    digest = dkim.HashThrough(hashlib.sha256())
    digest.update(b"the canonicalised header fields")
    assert mta_dkim._rsa_sign(digest, wrapped) == bytes(mta_dkim._original_sign(digest, mta_dkim._original_parse(pem)))
    assert mta_dkim._parse_pem_private_key(wrapped) is wrapped


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        (b"From: A <a@Example.TEST>\r\nTo: b@x\r\n\r\nbody", "example.test"),
        (b'Subject: x\r\nFROM:\r\n "Name, Q" <q@d.test>\r\n\r\nbody', "d.test"),  # folded, any case
        (b"From: (comment) x@y.test (c)\r\n\r\n", "y.test"),
        (b"To: a@b\r\n\r\nFrom: late@body.test\r\n", ""),  # in the body: not a header field
        (b"X: 1\r\nnot a header\r\nFrom: z@z.test\r\n\r\n", ""),  # the header block ended before it
        (b"From: \xe3\x81\x82 <u@utf.test>\r\n\r\n", "utf.test"),
        (b"From: group: a@g.test, b@h.test;\r\n\r\n", "g.test"),
        (b"From: nobody\r\nFrom: second@two.test\r\n\r\n", "two.test"),
        (b"Received: x\r\n\tcont\r\nFrom: a@fold.test\r\n\r\n", "fold.test"),
        (b"From: a@lf.test\nTo: b\n\nbody", "lf.test"),
    ],
)
def test_the_signing_domain_is_read_from_the_from_field(raw, domain):
    """The From: domain (the d= of the signature) is found as a mail parser finds it: folded
    lines, comments, groups, 8-bit names; never in the body or after the header block ended."""
    from agents.mta.dkim import _from_domain

    assert _from_domain(raw) == domain
