"""Real download clients against the server: Debian's fetchmail and getmail6 into a Maildir.

Both deliver the message with LF line endings (the local convention); the bytes compared are the
stored message with CRLF turned into LF, after the trace header the client adds (Received:,
Delivered-To:, Return-Path:) where it cannot be switched off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agents.multiline import crlf_normalize
from tests.conftest import PASSWORD

ADDRESS = "goro@example.test"

MESSAGES = [
    b"From: a@example.org\r\nTo: goro@example.test\r\nSubject: one\r\nMessage-ID: <one@example.org>\r\n\r\n"
    b"first\r\n.dot line\r\n",
    b"From: b@example.org\nTo: goro@example.test\nSubject: two\nMessage-ID: <two@example.org>\n\nLF only\n..two dots\n",
    b"From: c@example.org\r\nTo: goro@example.test\r\nSubject: three\r\nMessage-ID: <three@example.org>\r\n\r\n"
    + b"x" * 998
    + b"\r\n" * 3
    + "日本語の本文\r\n".encode(),
]

DELIVER_SCRIPT = """
import os, sys, time
maildir = sys.argv[1]
data = sys.stdin.buffer.read()
name = f"{time.time_ns()}.{os.getpid()}.test"
with open(os.path.join(maildir, "tmp", name), "wb") as handle:
    handle.write(data)
os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
"""


def expected_lf(raw: bytes) -> bytes:
    return crlf_normalize(raw).replace(b"\r\n", b"\n")


def maildir_make(base: Path) -> Path:
    maildir = base / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return maildir


def maildir_messages(maildir: Path) -> list[bytes]:
    files = sorted((maildir / "new").iterdir()) + sorted((maildir / "cur").iterdir())
    return [path.read_bytes() for path in files]


def strip_trace_headers(message: bytes, names: tuple[bytes, ...]) -> bytes:
    """Remove the header fields a download client prepends (with their folded lines)."""
    lines = message.split(b"\n")
    kept: list[bytes] = []
    dropping = False
    in_header = True
    for index, line in enumerate(lines):
        if in_header and line == b"":
            in_header = False
            kept.extend(lines[index:])
            break
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = line.split(b":", 1)[0].lower() in names
        if not dropping:
            kept.append(line)
    return b"\n".join(kept)


@pytest.fixture
def mailbox(make_account, deliver):
    account = make_account(ADDRESS)
    return account, [deliver(account, raw) for raw in MESSAGES]


def inbox_count(account) -> int:
    from store.models import Message

    return Message.objects.filter(folder__account=account, folder__name="INBOX").count()


def fetchmail_run(tmp_path: Path, *, port: int, ssl: bool, keep: bool) -> subprocess.CompletedProcess[str]:
    maildir = maildir_make(tmp_path)
    script = tmp_path / "deliver.py"
    script.write_text(DELIVER_SCRIPT)
    tls_option = "ssl" if ssl else "sslproto 'tls1.2+'"  # STLS required on the plain port
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"set no bouncemail\nset invisible\n"
        f"poll 127.0.0.1 with proto POP3 port {port} uidl\n"
        f'  user "{ADDRESS}" there with password "{PASSWORD}" is "{os.environ.get("USER", "root")}" here\n'
        f"  options {'keep' if keep else 'nokeep'} no rewrite"
        f" {tls_option} no sslcertck\n"
        f'  mda "{sys.executable} {script} {maildir}"\n'
    )
    rc.chmod(0o600)
    environment = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    return subprocess.run(
        ["fetchmail", "-f", str(rc), "--idfile", str(tmp_path / "fetchids"), "--pidfile", str(tmp_path / "pid"), "-v"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_fetchmail = pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail is not installed")
needs_getmail = pytest.mark.skipif(shutil.which("getmail") is None, reason="getmail6 is not installed")


@needs_fetchmail
def test_fetchmail_keep_over_stls(pop3_server, mailbox, tmp_path):
    """fetchmail (keep, STLS) downloads every message byte-exact and leaves them on the server;
    a second run finds nothing new because the UIDL ids are stable."""
    account, _ = mailbox
    result = fetchmail_run(tmp_path, port=pop3_server.port, ssl=False, keep=True)
    assert result.returncode == 0, result.stderr
    assert "> STLS" in result.stdout, result.stdout
    got = [strip_trace_headers(m, ()) for m in maildir_messages(tmp_path / "Maildir")]
    assert sorted(got) == sorted(expected_lf(raw) for raw in MESSAGES)
    assert inbox_count(account) == len(MESSAGES)
    again = fetchmail_run(tmp_path, port=pop3_server.port, ssl=False, keep=True)
    assert again.returncode == 1, again.stdout  # 1: no new mail
    assert len(maildir_messages(tmp_path / "Maildir")) == len(MESSAGES)


@needs_fetchmail
def test_fetchmail_nokeep_over_pop3s(pop3_server, mailbox, tmp_path):
    """fetchmail (no keep, implicit TLS) downloads everything and deletes it from the server."""
    account, _ = mailbox
    result = fetchmail_run(tmp_path, port=pop3_server.tls_port, ssl=True, keep=False)
    assert result.returncode == 0, result.stderr
    got = [strip_trace_headers(m, ()) for m in maildir_messages(tmp_path / "Maildir")]
    assert sorted(got) == sorted(expected_lf(raw) for raw in MESSAGES)
    assert inbox_count(account) == 0


def getmail_maildir(tmp_path: Path) -> tuple[Path, str]:
    """getmail refuses to deliver as root: then it delivers as nobody into a directory nobody can reach."""
    if os.geteuid() != 0:
        return maildir_make(tmp_path), ""
    shared = tmp_path / "shared"
    if not shared.exists():
        base = Path(tempfile.mkdtemp(prefix="yubin-getmail-"))
        shared.symlink_to(base)
        maildir = maildir_make(base)
        for path in (base, maildir, *(maildir / sub for sub in ("tmp", "new", "cur"))):
            path.chmod(0o777)
    return shared.resolve() / "Maildir", "user = nobody\n"


def getmail_run(tmp_path: Path, *, port: int, ssl: bool, delete: bool) -> subprocess.CompletedProcess[str]:
    maildir, user_line = getmail_maildir(tmp_path)
    retriever = "SimplePOP3SSLRetriever" if ssl else "SimplePOP3Retriever"
    config = tmp_path / "getmailrc"
    config.write_text(
        f"[retriever]\ntype = {retriever}\nserver = 127.0.0.1\nport = {port}\n"
        f"username = {ADDRESS}\npassword = {PASSWORD}\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n{user_line}"
        f"[options]\nread_all = false\ndelete = {str(delete).lower()}\n"
        "delivered_to = false\nreceived = false\nverbose = 2\n"
    )
    return subprocess.run(
        ["getmail", "--getmaildir", str(tmp_path), "--rcfile", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def getmail_home(tmp_path):
    yield tmp_path
    shared = tmp_path / "shared"
    if shared.is_symlink():
        shutil.rmtree(shared.resolve(), ignore_errors=True)


@needs_getmail
def test_getmail_keep_then_delete(pop3_server, mailbox, getmail_home):
    """getmail6 downloads every message byte-exact, keeps them, skips them on the next run (UIDL),
    and with delete = true removes them."""
    account, _ = mailbox
    result = getmail_run(getmail_home, port=pop3_server.port, ssl=False, delete=False)
    assert result.returncode == 0, result.stdout + result.stderr
    maildir, _ = getmail_maildir(getmail_home)
    got = [strip_trace_headers(m, (b"return-path",)) for m in maildir_messages(maildir)]
    assert sorted(got) == sorted(expected_lf(raw) for raw in MESSAGES)
    assert inbox_count(account) == len(MESSAGES)
    again = getmail_run(getmail_home, port=pop3_server.port, ssl=False, delete=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(maildir_messages(maildir)) == len(MESSAGES)
    final = getmail_run(getmail_home, port=pop3_server.tls_port, ssl=True, delete=True)
    assert final.returncode == 0, final.stdout + final.stderr
    assert inbox_count(account) == 0


@needs_getmail
def test_getmail_over_pop3s(pop3_server, mailbox, getmail_home):
    """getmail6's SSL retriever works against the POP3S port."""
    result = getmail_run(getmail_home, port=pop3_server.tls_port, ssl=True, delete=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(maildir_messages(getmail_maildir(getmail_home)[0])) == len(MESSAGES)
