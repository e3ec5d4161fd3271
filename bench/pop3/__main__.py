"""bench/pop3: download 1,000 mixed-size messages with poplib (RETR each), Yubin against Dovecot.

The same messages go into a Yubin INBOX (store.services.message_deliver, SQLite in a throw-away
data directory) and into a Maildir served by Debian's Dovecot pop3d, run with its own config in a
temporary directory on a loopback port. Each server runs in its own process; the client is the
same poplib loop: USER/PASS, STAT, RETR 1..N, QUIT. One untimed warm-up session each (Dovecot
builds its index, Yubin its size cache), then BENCH_POP3_ROUNDS (5) timed sessions each, taking
turns; the best of each counts.
BENCH_POP3_MESSAGES overrides the 1,000.
"""

from __future__ import annotations

import os
import poplib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADDRESS = "taro@example.test"
PASSWORD = "benchmark-password"  # a throw-away account in a temporary directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_messages(count: int) -> list[bytes]:
    """Mixed sizes like a real INBOX: mostly small, some medium, a few large; some dot-led lines."""
    rng = random.Random(1939)
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    messages = []
    for index in range(count):
        roll = rng.random()
        size = rng.randint(2_000, 20_000) if roll < 0.6 else rng.randint(20_000, 100_000)
        if roll > 0.95:
            size = rng.randint(100_000, 400_000)
        body = (line * (size // len(line) + 1))[:size]
        body = body.replace(b"\r\nLorem", b"\r\n.Lorem", 3)
        headers = (
            f"From: Sender {index % 97} <sender{index % 97}@example.org>\r\nTo: {ADDRESS}\r\n"
            f"Subject: Bench message {index}\r\nMessage-ID: <bench.{index}@example.org>\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0900\r\n\r\n"
        ).encode()
        messages.append(headers + body + b"\r\n")
    return messages


def download(port: int, user: str) -> tuple[float, int, int, float, float]:
    """One session: login, STAT, RETR every message, QUIT.

    Returns (seconds, messages, octets, seconds of the login alone, seconds of RETR loop and QUIT)."""
    started = time.perf_counter()
    client = poplib.POP3("127.0.0.1", port, timeout=60)
    client.user(user)
    client.pass_(PASSWORD)
    logged_in = time.perf_counter() - started
    count, _ = client.stat()
    loop_started = time.perf_counter()
    octets = 0
    for number in range(1, count + 1):
        _, lines, _ = client.retr(number)
        octets += sum(len(line) + 2 for line in lines)
    client.quit()
    ended = time.perf_counter()
    return ended - started, count, octets, logged_in, ended - loop_started


def rounds_alternate(
    peers: list[tuple[str, int, str]], rounds: int
) -> tuple[dict[str, tuple[float, int, int, float, float]], dict[str, list[float]]]:
    """One warm-up each (its login is the first, cold one), then the peers take turns round by
    round (a busy machine's load then falls on both alike); the best round of each counts.
    Returns the best round of each and every round's seconds."""
    for name, port, user in peers:
        first = download(port, user)
        print(f"{name:<8} first login {first[3] * 1000:7.1f} ms (warm-up session {first[0]:.3f} s)", flush=True)
    results: dict[str, list[tuple[float, int, int, float, float]]] = {name: [] for name, _, _ in peers}
    for _ in range(rounds):
        for name, port, user in peers:
            results[name].append(download(port, user))
    rounds_seconds = {name: [run[0] for run in runs] for name, runs in results.items()}
    loops = {name: min(run[4] for run in runs) for name, runs in results.items()}
    for name, best_loop in loops.items():
        logins = sorted(run[3] for run in results[name])
        print(f"{name:<8} RETR loop best {best_loop:.3f} s; login median {logins[len(logins) // 2] * 1000:.1f} ms")
    if len(loops) == 2:
        print(f"RETR loop ratio {loops['dovecot'] / loops['yubin']:.2f}x (login excluded)")
    return {name: min(runs) for name, runs in results.items()}, rounds_seconds


def port_wait(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# --- Yubin --------------------------------------------------------------------------------------


def yubin_prepare(messages: list[bytes]) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from store.services import DeliveryTarget, account_create, domain_create, message_deliver

    domain_create(name="example.test")
    account = account_create(address=ADDRESS, password=PASSWORD, quota=0)
    target = [DeliveryTarget(account_id=account.pk)]
    for raw in messages:
        message_deliver(raw=raw, targets=target)


def yubin_serve(port: int) -> None:
    import asyncio

    import django

    django.setup()
    from agents.pop3.server import pop3_servers_start

    async def serve() -> None:
        await pop3_servers_start(host="127.0.0.1", port=port, tls_port=0)
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- Dovecot ------------------------------------------------------------------------------------

DOVECOT_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{root}/Maildir
first_valid_uid = {uid}
pop3_uidl_format = %08Xu%08Xv
default_internal_user = {internal_user}
default_login_user = {login_user}
auth_cache_size = 10M
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_start(root: Path, messages: list[bytes], port: int) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        print("dovecot is not installed; peer skipped")
        return None
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("nobody")
        uid, gid, internal_user, login_user = owner.pw_uid, owner.pw_gid, "dovecot", "dovenull"
    else:
        uid, gid = os.getuid(), os.getgid()
        internal_user = login_user = os.environ.get("USER", "nobody")
    maildir = root / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    for index, raw in enumerate(messages):
        (maildir / "cur" / f"{1_700_000_000 + index}.M{index}P1.bench:2,").write_bytes(raw)
    (root / "home").mkdir()
    # The same footing as Yubin: an Argon2id hash and a verified-credential cache (auth_cache).
    hashed = subprocess.run(
        ["doveadm", "pw", "-s", "ARGON2ID", "-p", PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    (root / "passwd").write_text(f"bench:{hashed}\n")
    config = root / "dovecot.conf"
    config.write_text(
        DOVECOT_CONFIG.format(
            root=root,
            uid=uid,
            gid=gid,
            port=port,
            internal_user=internal_user,
            login_user=login_user,
        )
    )
    if os.geteuid() == 0:
        root.chmod(0o755)
        root.parent.chmod(0o755)  # the temporary directory is 0700; nobody must reach the Maildir
        for path in [root / "home", *maildir.rglob("*"), maildir]:
            os.chown(path, uid, gid)
    process = subprocess.Popen([binary, "-F", "-c", str(config)])
    try:
        port_wait(port)
    except RuntimeError:
        process.terminate()
        print((root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else "no dovecot log")
        return None
    return process


def main() -> int:
    count = int(os.environ.get("BENCH_POP3_MESSAGES", "1000"))
    rounds = int(os.environ.get("BENCH_POP3_ROUNDS", "5"))
    if len(sys.argv) > 2 and sys.argv[1] == "--prepare":
        yubin_prepare(make_messages(int(sys.argv[2])))
        return 0
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        yubin_serve(int(sys.argv[2]))
        return 0
    messages = make_messages(count)
    megabytes = sum(len(m) for m in messages) / 1e6
    print(f"{count} messages, {megabytes:.1f} MB; poplib USER/PASS, STAT, RETR each, QUIT; best of {rounds}")
    with tempfile.TemporaryDirectory(prefix="yubin-bench-pop3-") as temp:
        root = Path(temp)
        env = dict(
            os.environ,
            YUBIN_DATA_DIR=str(root / "yubin"),
            DJANGO_SETTINGS_MODULE="yubin.settings",
            YUBIN_ALLOW_PLAINTEXT_LOOPBACK="1",
            YUBIN_HOSTNAME="bench.test",
        )
        for name in ("DATABASE_URL", "YUBIN_CACHE_URL"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "bench.pop3", "--prepare", str(count)], env=env, check=True)
        yubin_port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "bench.pop3", "--serve", str(yubin_port)], env=env)
        dovecot_root = root / "dovecot"
        dovecot_root.mkdir()
        dovecot_port = free_port()
        dovecot = dovecot_start(dovecot_root, messages, dovecot_port)
        try:
            port_wait(yubin_port)
            peers = [("yubin", yubin_port, ADDRESS)]
            if dovecot is not None:
                peers.append(("dovecot", dovecot_port, "bench"))
            best, every = rounds_alternate(peers, rounds)
        except poplib.error_proto:
            log = dovecot_root / "dovecot.log"
            print(log.read_text()[-3000:] if log.exists() else "no dovecot log")
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
            if dovecot is not None:
                dovecot.send_signal(signal.SIGTERM)
                dovecot.wait(10)
        for name, (seconds, messages_sent, octets, _, _) in best.items():
            print(
                f"{name:<8} {seconds:6.3f} s  {messages_sent / seconds:7.0f} msg/s  "
                f"{octets / 1e6 / seconds:6.1f} MB/s  ({octets} octets)  rounds: "
                + " ".join(f"{value:.3f}" for value in every[name]),
                flush=True,
            )
        if "dovecot" not in best:
            return 0
        if best["yubin"][1:3] != best["dovecot"][1:3]:
            print("WARNING: the servers sent different messages or octet counts")
        ratio = best["dovecot"][0] / best["yubin"][0]
        print(f"ratio    {ratio:.2f}x Dovecot's speed (higher is better; target >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
