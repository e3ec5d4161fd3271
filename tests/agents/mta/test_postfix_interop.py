"""Interoperation with a real Postfix (Debian's binaries, its own configuration) on loopback port 25.

Yubin's relay delivers to Postfix as the MX of postfix.test (127.0.0.4), which files the message
in a Maildir; Postfix relays mail for example.test to Yubin's MX (127.0.0.5), which files it in
the local account's INBOX.
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("agents.smtp.server", reason="receiving from Postfix needs the SMTP MX server")

from agents.mta.queue import relay_message
from bench.peers.postfix import MASTER_CF
from store.models import Message, OutboundRecipient
from tests.agents.mta.conftest import port_free

pytestmark = [pytest.mark.slow, pytest.mark.root]

POSTFIX_ADDRESS = "127.0.0.4"
YUBIN_ADDRESS = "127.0.0.5"

MAIN_CF = """compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
myhostname = mx.postfix.test
mydestination =
# 127.0.0.4 is not configured on lo (Linux routes all of 127/8 there): Postfix's interface check
# would refuse it, so listen where master.cf says and bind the client explicitly.
inet_interfaces = all
inet_protocols = ipv4
smtp_bind_address = {address}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, permit_auth_destination, reject
virtual_mailbox_domains = postfix.test
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
transport_maps = inline:{{example.test=smtp:[{yubin}]:25}}
smtp_tls_security_level = may
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
"""


def _postfix(conf: Path, action: str) -> str:
    command = ["script", "-qc", f"/usr/sbin/postfix -c {conf} {action}", "/dev/null"]
    return subprocess.run(command, capture_output=True, text=True).stdout


@pytest.fixture
def postfix():
    if os.geteuid() != 0:
        pytest.skip("binds port 25 on loopback addresses: needs root")
    if not Path("/usr/sbin/postfix").exists():
        pytest.skip("Debian's postfix is not installed")
    for address in (POSTFIX_ADDRESS, YUBIN_ADDRESS):
        if not port_free(address, 25):
            pytest.skip(f"{address}:25 is in use")
    # Postfix's daemons run as "postfix" and "nobody": the directory must be reachable by them.
    root = Path(tempfile.mkdtemp(prefix="yubin-postfix-"))
    os.chmod(root, 0o755)
    nobody = pwd.getpwnam("nobody")
    postfix_user = pwd.getpwnam("postfix")
    for sub in ("conf", "queue", "data", "mail"):
        (root / sub).mkdir()
    os.chown(root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    (root / "conf" / "main.cf").write_text(
        MAIN_CF.format(root=root, address=POSTFIX_ADDRESS, uid=nobody.pw_uid, gid=nobody.pw_gid, yubin=YUBIN_ADDRESS)
    )
    master = MASTER_CF.format(port=25).replace("127.0.0.1:25 inet", f"{POSTFIX_ADDRESS}:25 inet")
    (root / "conf" / "master.cf").write_text(
        master + "virtual   unix  -       n       n       -       -       virtual\n"
    )
    started = _postfix(root / "conf", "start")
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((POSTFIX_ADDRESS, 25), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
                pytest.fail(f"Postfix did not start: {started}\n{log[-2000:]}")
            time.sleep(0.2)
    try:
        yield root
    finally:
        _postfix(root / "conf", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _maildir_messages(root: Path) -> list[bytes]:
    return (
        [path.read_bytes() for path in (root / "mail" / "box" / "new").glob("*")]
        if (root / "mail" / "box" / "new").exists()
        else []
    )


def test_relay_delivers_to_postfix(relay_env, postfix, settings):
    """Yubin's relay finds postfix.test's MX and hands the message over; Postfix files it in its Maildir."""
    relay_env.dns.zone["postfix.test"] = [("MX", "10 mx.postfix.test.")]
    relay_env.dns.zone["mx.postfix.test"] = [("A", POSTFIX_ADDRESS)]
    settings.YUBIN_RELAY_PORT = 25
    outbound = relay_env.enqueue("bob@postfix.test")
    relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.state == "sent", row.last_reply
    assert row.last_host == "mx.postfix.test"
    deadline = time.monotonic() + 30
    while not _maildir_messages(postfix) and time.monotonic() < deadline:
        time.sleep(0.2)
    [delivered] = _maildir_messages(postfix)
    assert b"Subject: Hello" in delivered and b"Received: from mail.test" in delivered


def test_postfix_relays_to_yubin_mx(relay_env, postfix, settings, loop_thread):
    """Postfix relays a message for example.test to Yubin's MX on 127.0.0.5:25; it lands in the INBOX."""
    relay_env.dns.zone["postfix.test"] = [("TXT", f"v=spf1 ip4:{POSTFIX_ADDRESS} -all")]
    settings.YUBIN_PORT_SMTP = 25
    settings.YUBIN_PORT_SUBMISSION = 0
    settings.YUBIN_PORT_SUBMISSIONS = 0
    from agents.smtp.server import listeners_start

    listeners = loop_thread.run(listeners_start(host=YUBIN_ADDRESS))
    try:
        with smtplib.SMTP(POSTFIX_ADDRESS, 25, timeout=30) as client:
            client.sendmail(
                "alice@postfix.test",
                ["taro@example.test"],
                b"From: <alice@postfix.test>\r\nTo: <taro@example.test>\r\nSubject: via Postfix\r\n\r\n"
                b"Hello from Postfix.\r\n",
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if Message.objects.filter(folder__account=relay_env.sender, subject="via Postfix").exists():
                break
            time.sleep(0.2)
        [raw] = [m for m in relay_env.inbox() if b"via Postfix" in m]
        assert b"Hello from Postfix." in raw
        assert b"spf=pass" in raw
    finally:

        async def close() -> None:
            for listener in listeners:
                listener.server.close()
                await listener.server.wait_closed()

        loop_thread.run(close())
