"""IMAP benchmark: Yubin against Dovecot (Maildir, same messages), warm, login excluded.

Prints p50/p99 per command for each folder size and the ratio Dovecot/Yubin (above 1.0 means
Yubin is faster), then memory per idle connection with a selected INBOX.
Sizes come from BENCH_IMAP_SIZES (default "1000"; "1000,10000,100000" for the full table).
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("YUBIN_DATA_DIR", tempfile.mkdtemp(prefix="yubin-bench-imap-"))
os.environ.setdefault("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")
os.environ.setdefault("YUBIN_IMAP_MAX_CONNECTIONS_PER_ACCOUNT", "5000")

import django

django.setup()

PASSWORD = "bench password 1"
REPEAT = int(os.environ.get("BENCH_IMAP_REPEAT", "15"))
IDLE_CONNECTIONS = int(os.environ.get("BENCH_IMAP_IDLE", "200"))
LAST_50_ITEMS = "(FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)"
COMMANDS = [
    ("SELECT", lambda c, n: c.select("INBOX")),
    ("UID FETCH 1:* (FLAGS)", lambda c, n: c.uid("FETCH", "1:*", "(FLAGS)")),
    ("UID SEARCH SUBJECT miss", lambda c, n: c.uid("SEARCH", "SUBJECT", "zzqqxx-not-there")),
    ("UID SORT (REVERSE DATE)", lambda c, n: c.uid("SORT", "(REVERSE DATE)", "UTF-8", "ALL")),
    ("FETCH last 50 ENVELOPE...", lambda c, n: c.fetch(f"{max(n - 49, 1)}:{n}", LAST_50_ITEMS)),
    ("FETCH 1 BODY[]", lambda c, n: c.fetch("1", "(BODY.PEEK[])")),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample_message(number: int) -> bytes:
    day = 1 + number % 28
    return (
        f"From: Sender {number % 97} <s{number % 97}@example.org>\r\nTo: bench@example.test\r\n"
        f"Subject: Bench message {number} about topic {number % 13}\r\n"
        f"Date: {day:02d} Jan 2024 {number % 24:02d}:00:00 +0000\r\nMessage-ID: <{number}@bench>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n" + ("Lorem ipsum dolor sit amet. " * 40 + "\r\n") * 3
    ).encode()


def yubin_setup(size: int):
    from django.core.management import call_command

    from store.models import Account, Domain
    from store.services import DeliveryTarget, account_create, domain_create, message_deliver

    call_command("migrate", verbosity=0)
    address = f"bench{size}@example.test"
    if not Domain.objects.filter(name="example.test").exists():
        domain_create(name="example.test")
    account = Account.objects.filter(address=address).first() or account_create(address=address, password=PASSWORD)
    for number in range(size):
        message_deliver(raw=sample_message(number), targets=[DeliveryTarget(account_id=account.pk)])
    return address


def dovecot_start(root: Path, size: int, address: str) -> tuple[subprocess.Popen, int] | None:
    if shutil.which("dovecot") is None:
        return None
    port = free_port()
    for sub in ("run", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    hashed = subprocess.run(
        ["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    (root / "passwd").write_text(f"{address}:{hashed}\n")
    maildir = root / "mail" / address
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for number in range(size):
        (maildir / "cur" / f"{1700000000 + number}.M{number}.bench:2,").write_bytes(sample_message(number))
    (root / "dovecot.conf").write_text(
        f"base_dir = {root}/run\nstate_dir = {root}/run\nlog_path = {root}/dovecot.log\nprotocols = imap\n"
        f"listen = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n"
        f"mail_location = maildir:{root}/mail/%u\nfirst_valid_uid = 1\nauth_cache_size = 10M\n"
        "mail_max_userip_connections = 5000\ndefault_process_limit = 5000\ndefault_client_limit = 12000\n"
        f"passdb {{\n driver = passwd-file\n args = scheme=SHA512-CRYPT {root}/passwd\n}}\n"
        f"userdb {{\n driver = static\n args = uid=nobody gid=nogroup home={root}/home/%u\n}}\n"
        f"service imap-login {{\n inet_listener imap {{\n port = {port}\n }}\n"
        " inet_listener imaps {\n port = 0\n }\n}\n"
        "service imap {\n process_limit = 5000\n}\n"
    )
    import pwd

    nobody = pwd.getpwnam("nobody")
    for path in [root / "mail", root / "home", *sorted((root / "mail").rglob("*"))]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    process = subprocess.Popen(["dovecot", "-F", "-c", str(root / "dovecot.conf")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    return None


def measure(port: int, address: str, size: int) -> dict[str, tuple[float, float]]:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(address, PASSWORD)
    client.select("INBOX")
    results = {}
    for name, run in COMMANDS:
        run(client, size)  # warm
        timings = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            typ, _ = run(client, size)
            timings.append((time.perf_counter() - started) * 1000)
            assert typ == "OK", name
        timings.sort()
        results[name] = (statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))])
    client.logout()
    return results


def rss_kb(pid: int) -> int:
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean", "Private_Dirty")):
                total += int(line.split()[1])
    except OSError:
        pass
    return total


def idle_memory(port: int, address: str, pids) -> float:
    before = sum(rss_kb(pid) for pid in pids())
    clients = []
    for _ in range(IDLE_CONNECTIONS):
        client = imaplib.IMAP4("127.0.0.1", port)
        client.login(address, PASSWORD)
        client.select("INBOX")
        clients.append(client)
    time.sleep(0.5)
    after = sum(rss_kb(pid) for pid in pids())
    for client in clients:
        client.logout()
    return (after - before) / IDLE_CONNECTIONS


def dovecot_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("imap", "imap-login"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def main() -> None:
    from agents.imap.server import ImapServer

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = [int(s) for s in os.environ.get("BENCH_IMAP_SIZES", "1000").split(",")]
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = ImapServer(allow_plaintext_loopback=True)
    port = free_port()
    asyncio.run_coroutine_threadsafe(server.listen("127.0.0.1", port, implicit_tls=False), loop).result()
    print(f"{'command':<28}{'size':>8}{'yubin p50':>11}{'p99':>8}{'dovecot p50':>13}{'p99':>8}{'ratio':>7}")
    for size in sizes:
        address = yubin_setup(size)
        ours = measure(port, address, size)
        root = Path(tempfile.mkdtemp(prefix="dovecot-bench-"))
        root.chmod(0o755)  # Dovecot's auth process runs as the dovecot user
        started = dovecot_start(root, size, address)
        theirs: dict[str, tuple[float, float]] = {}
        if started is not None:
            process, dovecot_port = started
            try:
                theirs = measure(dovecot_port, address, size)
                if size == sizes[0]:
                    dovecot_memory = idle_memory(dovecot_port, address, dovecot_pids)
            finally:
                process.terminate()
                process.wait(10)
        for name, _ in COMMANDS:
            p50, p99 = ours[name]
            other = theirs.get(name)
            ratio = f"{other[0] / p50:6.2f}x" if other else "   n/a"
            other_text = f"{other[0]:13.2f}{other[1]:8.2f}" if other else f"{'n/a':>13}{'':>8}"
            print(f"{name:<28}{size:>8}{p50:11.2f}{p99:8.2f}{other_text}{ratio}")
        if size == sizes[0]:
            ours_memory = idle_memory(port, address, lambda: [os.getpid()])
            print(f"\nmemory per idle connection (INBOX of {size} selected, {IDLE_CONNECTIONS} connections):")
            print(f"  yubin   {ours_memory:8.1f} kB")
            if theirs:
                ratio = dovecot_memory / max(ours_memory, 1)
                print(f"  dovecot {dovecot_memory:8.1f} kB   ratio dovecot/yubin {ratio:.1f}x\n")
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)


if __name__ == "__main__":
    main()
