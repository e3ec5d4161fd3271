"""IMAP benchmark: Yubin against Dovecot (Maildir, the same messages) in the same run.

1. Latency table per folder size (BENCH_IMAP_SIZES, default "1000,10000,100000"), warm, login
   excluded: p50/p99 per command over BENCH_IMAP_REPEAT (default 40) runs of it, or
   BENCH_IMAP_REPEAT_FAST (default 2,000) for a command that takes under 2 ms, Yubin's and
   Dovecot's runs interleaved one by one; the server's CPU per command; the ratios
   Dovecot/Yubin (above 1.0 means Yubin is faster). On a machine whose CPUs sleep when idle a
   round trip is quick when client and server run on the same CPU and slower when one must
   wake the other's: short commands' medians then move with the scheduler as much as with the
   server, and the CPU per command is the steadier figure. So during this phase the client
   runs on one CPU (the first it may use) and so do Dovecot's processes, and Yubin's listeners
   take the connections received on their process's CPU: each server answers on the client's
   CPU, where unpinned the scheduler put either apart from the client from run to run.
   The 1k folder holds 1,000 distinct messages; larger folders repeat those 1,000 contents (for
   Yubin as rows sharing the 1,000 blobs, for Dovecot as Maildir files), distinct UIDs each.
2. A Thunderbird-like concurrent mix (BENCH_IMAP_CLIENTS clients, BENCH_IMAP_MIX_SECONDS each):
   LIST, SELECT, FETCH flags, FETCH headers, FETCH a body, STORE, SEARCH, APPEND (45 KB), EXPUNGE,
   IDLE; once logging in and out every cycle, once with long-lived sessions. ops/s, sessions/s,
   the server's CPU per command and p50/p99/mean per command. Each mix runs in BENCH_IMAP_MIX_ROUNDS
   rounds (default 4), Yubin and Dovecot taking turns, so a change in the machine's speed
   during the run weighs on both alike. Yubin's round ends when its search index has caught up
   with the messages appended (it indexes after the commit, when the load pauses): that CPU is
   in its figure, and "with indexing" counts that time too.
3. Private memory per idle connection with BENCH_IMAP_IDLE (default 1,000) connections, each with
   the 1k INBOX selected.
Yubin's server runs as an operator runs it: `manage.py agents` with YUBIN_AGENTS_PROCESSES
processes sharing the port (default one per CPU; Dovecot runs a process per client), the memory
figure counting all of them. BENCH_IMAP_SERVER=bench runs one server process of the bench's own
instead (one event loop, one writer). BENCH_IMAP_PHASES (default "latency,mix,memory") picks
the parts to run; BENCH_IMAP_MIXES (default "relogin,long") the mixes; BENCH_IMAP_PEER=none
leaves Dovecot out (to compare two versions of Yubin).
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("YUBIN_DATA_DIR", tempfile.mkdtemp(prefix="yubin-bench-imap-"))
os.environ.setdefault("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")
os.environ.setdefault("YUBIN_IMAP_MAX_CONNECTIONS_PER_ACCOUNT", "5000")
os.environ.setdefault("YUBIN_IMAP_MAX_CONNECTIONS_PER_IP", "5000")

import django

from bench.procs import cpu_ns, cpu_seconds, process_tree

django.setup()

PASSWORD = "bench password 1"
ROOT = Path(__file__).resolve().parents[2]
REPEAT = int(os.environ.get("BENCH_IMAP_REPEAT", "40"))
REPEAT_FAST = int(os.environ.get("BENCH_IMAP_REPEAT_FAST", "2000"))
FAST_MS = 2.0  # commands quicker than this (warm) are run REPEAT_FAST times
IDLE_CONNECTIONS = int(os.environ.get("BENCH_IMAP_IDLE", "1000"))
MIX_CLIENTS = int(os.environ.get("BENCH_IMAP_CLIENTS", "10"))
MIX_SECONDS = float(os.environ.get("BENCH_IMAP_MIX_SECONDS", "5"))
MIX_ROUNDS = int(os.environ.get("BENCH_IMAP_MIX_ROUNDS", "4"))
SERVER = os.environ.get("BENCH_IMAP_SERVER", "agents")  # or "bench": one process of the bench's own
PHASES = os.environ.get("BENCH_IMAP_PHASES", "latency,mix,memory").split(",")
MIXES = os.environ.get("BENCH_IMAP_MIXES", "relogin,long").split(",")
DISTINCT = 1000  # distinct message contents; larger folders repeat them
LAST_50_ITEMS = "(FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)"
# (name, command text for a folder of n messages). Timed with a raw socket client that only looks
# for the tagged reply, so the figures are the server's, not imaplib's response parsing.
COMMANDS = [
    ("SELECT", lambda n: "SELECT INBOX"),
    ("UID FETCH 1:* (FLAGS)", lambda n: "UID FETCH 1:* (FLAGS)"),
    ("UID SEARCH SUBJECT miss", lambda n: "UID SEARCH SUBJECT zzqqxx-not-there"),
    ("UID SORT (REVERSE DATE)", lambda n: "UID SORT (REVERSE DATE) UTF-8 ALL"),
    ("FETCH last 50 ENVELOPE...", lambda n: f"FETCH {max(n - 49, 1)}:{n} {LAST_50_ITEMS}"),
    ("FETCH 1 BODY[]", lambda n: "FETCH 1 (BODY.PEEK[])"),
]


class RawClient:
    """Sends one command and reads until its tagged reply; no parsing of untagged data."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.counter = 0
        while b"\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        self.buffer = b""

    def command(self, text: str) -> bytes:
        """The status word of the tagged reply (b"OK", b"NO", b"BAD")."""
        return self.exchange(text)[0]

    def exchange(self, text: str, literal: bytes | None = None, idle: bool = False) -> tuple[bytes, bytes]:
        """(status word, every byte of the reply); literal is sent after the server's "+"."""
        self.counter += 1
        tag = b"b%d" % self.counter
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        if literal is not None or idle:
            while True:  # untagged data may come before the continuation request
                while b"\r\n" not in self.buffer:
                    self.buffer += self.sock.recv(65536)
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                if line.startswith(tag + b" "):
                    return line.split(b" ", 2)[1], line
                if line.startswith(b"+"):
                    break
            self.sock.sendall(literal + b"\r\n" if literal is not None else b"DONE\r\n")
        data = self.buffer
        marker = b"\r\n" + tag + b" "
        searched = 0
        while True:
            found = data.find(marker, max(searched - len(marker), 0))
            if found < 0 and data.startswith(tag + b" "):
                found = -2
            if found != -1:
                begin = 0 if found == -2 else found + 2
                end = data.find(b"\r\n", begin)
                if end >= 0:
                    self.buffer = data[end + 2 :]
                    return data[begin:end].split(b" ", 2)[1], data[: end + 2]
            searched = len(data)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk

    def close(self) -> None:
        self.command("LOGOUT")
        self.sock.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample_message(number: int) -> bytes:
    number %= DISTINCT
    day = 1 + number % 28
    return (
        f"From: Sender {number % 97} <s{number % 97}@example.org>\r\nTo: bench@example.test\r\n"
        f"Subject: Bench message {number} about topic {number % 13}\r\n"
        f"Date: {day:02d} Jan 2024 {number % 24:02d}:00:00 +0000\r\nMessage-ID: <{number}@bench>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n" + ("Lorem ipsum dolor sit amet. " * 40 + "\r\n") * 3
    ).encode()


def append_message(number: int) -> bytes:
    """A 45 KB message, like the APPEND of a sent mail with a small attachment."""
    body = ("Appended text line for the benchmark, seventy-odd characters long....\r\n" * 640).encode()
    head = f"From: bench@example.test\r\nTo: x@example.org\r\nSubject: Appended {number}\r\n\r\n"
    return head.encode() + body[: 45000 - len(head)]


def yubin_setup(size: int) -> str:
    """An account whose INBOX holds `size` messages: 1,000 delivered, the rest as rows sharing their blobs."""
    from django.core.management import call_command
    from django.db.models import F

    from store.models import Account, Domain, Folder, Message
    from store.services import DeliveryTarget, account_create, domain_create, message_deliver

    call_command("migrate", verbosity=0)
    address = f"bench{size}@example.test"
    if not Domain.objects.filter(name="example.test").exists():
        domain_create(name="example.test")
    account = Account.objects.filter(address=address).first() or account_create(address=address, password=PASSWORD)
    for number in range(min(size, DISTINCT)):
        message_deliver(raw=sample_message(number), targets=[DeliveryTarget(account_id=account.pk)])
    if size > DISTINCT:
        inbox = Folder.objects.get(account=account, name="INBOX")
        templates = list(Message.objects.filter(folder=inbox).order_by("uid"))
        skip = {"id", "folder", "uid", "modseq"}
        names = [f.attname for f in Message._meta.concrete_fields if f.name not in skip]
        batch = []
        for uid in range(DISTINCT + 1, size + 1):
            template = templates[(uid - 1) % DISTINCT]
            values = {name: getattr(template, name) for name in names}
            batch.append(Message(folder_id=inbox.pk, uid=uid, modseq=inbox.highest_modseq + 1, **values))
            if len(batch) == 10000:
                Message.objects.bulk_create(batch)
                batch = []
        Message.objects.bulk_create(batch)
        Folder.objects.filter(pk=inbox.pk).update(
            uid_next=size + 1,
            highest_modseq=inbox.highest_modseq + 1,
            message_count=size,
            unseen_count=size,
            total_bytes=F("total_bytes") * (size // DISTINCT),
        )
    return address


def dovecot_start(root: Path, sizes: list[int]) -> tuple[subprocess.Popen, int] | None:
    if shutil.which("dovecot") is None or os.environ.get("BENCH_IMAP_PEER") == "none":
        return None
    port = free_port()
    for sub in ("run", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    hashed = subprocess.run(
        ["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    (root / "passwd").write_text("".join(f"bench{size}@example.test:{hashed}\n" for size in sizes))
    for size in sizes:
        maildir = root / "mail" / f"bench{size}@example.test"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        contents = [sample_message(number) for number in range(DISTINCT)]
        for number in range(size):
            (maildir / "cur" / f"{1700000000 + number}.M{number}.bench:2,").write_bytes(contents[number % DISTINCT])
    past = time.time() - 3600  # not "dirty": Dovecot rescans Maildirs changed in the last seconds
    for path in (root / "mail").rglob("*"):
        os.utime(path, (past, past))
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
    if wait_port(port):
        return process, port
    process.kill()
    return None


def wait_port(port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def yubin_start() -> tuple[subprocess.Popen, int]:
    port = free_port()
    if SERVER == "agents":
        # As an operator runs it: `manage.py agents` (YUBIN_AGENTS_PROCESSES processes), IMAP only.
        env = os.environ.copy()
        env["YUBIN_PORT_IMAP"] = str(port)
        for other in ("SMTP", "SUBMISSION", "SUBMISSIONS", "IMAPS", "POP3", "POP3S", "SIEVE"):
            env[f"YUBIN_PORT_{other}"] = "0"
        process = subprocess.Popen([sys.executable, "manage.py", "agents"], cwd=ROOT, env=env)
    else:
        process = subprocess.Popen([sys.executable, "-m", "bench.imap", "--serve", str(port)], env=os.environ.copy())
    if not wait_port(port, 60):
        process.kill()
        raise SystemExit("the Yubin IMAP server did not start")
    index_wait()
    return process, port


def index_wait(deadline: float = 600) -> None:
    """Until the folders set up are in the search index (SQLite indexes after commit, in the
    lulls, in the agents process): the measurements do not share the CPU with the indexer."""
    from django.db import connection

    from store.services.search_index import search_index_catch_up, search_index_pending

    if SERVER != "agents":  # the bench's own server process runs no indexer: index here
        search_index_catch_up()
    end = time.monotonic() + deadline
    while search_index_pending() and time.monotonic() < end:
        time.sleep(0.1)
    connection.close()


def serve(port: int) -> None:
    from agents.eventloop import event_loop_new
    from agents.imap.server import ImapServer

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = event_loop_new()
    server = ImapServer(allow_plaintext_loopback=True)
    loop.run_until_complete(server.listen("127.0.0.1", port, implicit_tls=False))
    loop.run_forever()


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]


@dataclass
class Timed:
    p50: float  # ms
    p99: float  # ms
    cpu: float  # the server's CPU per command, µs


def measure(servers: list[tuple[int, int]], address: str, size: int) -> list[dict[str, Timed]]:
    """Each command's latency on every server (port, pid), their runs interleaved one by one, so
    a change in the machine's state (another job, the CPUs' sleep states) weighs on all alike.
    A command that takes under FAST_MS is run REPEAT_FAST times, others REPEAT times. The
    server's CPU per command counts every thread of its processes (Dovecot's: all of them,
    its login and auth processes too) while the runs of that command go on."""
    clients = []
    for port, _ in servers:
        client = RawClient(port)
        assert client.command(f'LOGIN {address} "{PASSWORD}"') == b"OK"
        assert client.command("SELECT INBOX") == b"OK"
        clients.append(client)
    results: list[dict[str, Timed]] = [{} for _ in servers]
    for name, text in COMMANDS:
        command = text(size)
        warm = []
        for client in clients:
            started = time.perf_counter()
            client.command(command)
            warm.append((time.perf_counter() - started) * 1000)
        repeat = REPEAT_FAST if max(warm) < FAST_MS else REPEAT
        timings: list[list[float]] = [[] for _ in servers]
        cpu_before = [cpu_ns(pid) for _, pid in servers]
        for number in range(repeat):
            order = range(len(clients)) if number % 2 == 0 else reversed(range(len(clients)))
            for index in order:
                started = time.perf_counter()
                status = clients[index].command(command)
                timings[index].append((time.perf_counter() - started) * 1000)
                assert status == b"OK", name
        for index, (_, pid) in enumerate(servers):
            p50, p99 = percentiles(timings[index])
            results[index][name] = Timed(p50, p99, (cpu_ns(pid) - cpu_before[index]) / repeat / 1000)
    for client in clients:
        client.close()
    return results


MIX_HEADERS = (
    "BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
    "Newsgroups In-Reply-To Content-Type Reply-To)]"
)


def mix_client(port: int, address: str, relogin: bool, deadline: float, seed: int) -> dict[str, list[float]]:
    """One client's Thunderbird-like cycles until the deadline: command -> latencies (ms)."""
    import random

    rng = random.Random(seed)
    timings: dict[str, list[float]] = {}

    def timed(name: str, text: str, **extra: Any) -> bytes:
        started = time.perf_counter()
        status, data = client.exchange(text, **extra)
        timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        if status != b"OK":
            raise RuntimeError(f"{name}: {data[-200:]!r}")
        return data

    client: RawClient | None = None
    cycle = 0
    while time.monotonic() < deadline:
        cycle += 1
        if client is None:
            started = time.perf_counter()
            client = RawClient(port)
            assert client.command(f'LOGIN {address} "{PASSWORD}"') == b"OK"
            timings.setdefault("LOGIN", []).append((time.perf_counter() - started) * 1000)
        timed("LIST", 'LIST "" "*"')
        selected = timed("SELECT", "SELECT INBOX")
        exists = int(selected.split(b" EXISTS")[0].rsplit(b"* ", 1)[1])
        timed("FETCH flags", f"FETCH {max(exists - 199, 1)}:* (UID FLAGS)")
        timed("FETCH headers", f"FETCH {max(exists - 19, 1)}:* (UID RFC822.SIZE FLAGS {MIX_HEADERS})")
        uid = rng.randint(1, DISTINCT)
        timed("FETCH body", f"UID FETCH {uid} (UID RFC822.SIZE BODY.PEEK[])")
        timed("STORE", f"UID STORE {uid} {'+' if cycle % 2 else '-'}FLAGS (\\Seen)")
        timed("SEARCH", "UID SEARCH UNSEEN")
        raw = append_message(cycle)
        appended = timed("APPEND", f"APPEND INBOX (\\Seen) {{{len(raw)}}}", literal=raw)
        new_uid = appended.split(b"APPENDUID ")[1].split(b"]")[0].split()[1].decode()
        timed("STORE", f"UID STORE {new_uid} +FLAGS.SILENT (\\Deleted)")
        timed("EXPUNGE", f"UID EXPUNGE {new_uid}")
        timed("IDLE", "IDLE", idle=True)
        if relogin:
            client.close()
            client = None
    if client is not None:
        client.close()
    return timings


@dataclass
class MixResult:
    """What a mix measured, summed over rounds."""

    seconds: float = 0.0
    cpu: float = 0.0  # server CPU seconds, the search index's catching up included
    timings: dict[str, list[float]] = field(default_factory=dict)  # command -> latencies (ms)
    index_seconds: float = 0.0  # Yubin: until the search index had caught up after each round

    def commands(self) -> int:
        return sum(len(values) for values in self.timings.values())

    def rate(self) -> float:
        return self.commands() / self.seconds if self.seconds else 0.0

    def indexed_rate(self) -> float:
        """Commands per second counting the search index's catching up as time of the run."""
        total = self.seconds + self.index_seconds
        return self.commands() / total if total else 0.0

    def sessions_rate(self) -> float:
        return len(self.timings.get("LOGIN", [])) / self.seconds if self.seconds else 0.0

    def cpu_per_command(self) -> float:
        return self.cpu * 1000 / max(self.commands(), 1)

    def percentiles(self) -> dict[str, tuple[float, float]]:
        return {name: percentiles(values) for name, values in self.timings.items()}

    def means(self) -> dict[str, float]:
        """Mean latency per command: in a closed loop of clients the sum of a cycle's latencies is
        what throughput is made of, so a server whose medians are low but whose tail is long (a
        write waiting for its fsync) and one whose every command waits a little show it here."""
        return {name: statistics.fmean(values) for name, values in self.timings.items()}


def run_mix(port: int, address: str, relogin: bool, server_pid: int, result: MixResult, yubin: bool) -> None:
    """MIX_CLIENTS clients for MIX_SECONDS, added to result.

    Yubin indexes appended messages for SEARCH after their commit, once the load pauses: its
    round ends when the index has caught up (the time is counted apart, the CPU with the rest),
    so that work never runs in Dovecot's round."""
    from concurrent.futures import ThreadPoolExecutor

    cpu_before = cpu_seconds(server_pid)
    deadline = time.monotonic() + MIX_SECONDS
    started = time.perf_counter()
    with ThreadPoolExecutor(MIX_CLIENTS) as pool:
        futures = [pool.submit(mix_client, port, address, relogin, deadline, n) for n in range(MIX_CLIENTS)]
        results = [future.result() for future in futures]
    result.seconds += time.perf_counter() - started
    if yubin:
        index_started = time.perf_counter()
        index_wait()
        result.index_seconds += time.perf_counter() - index_started
    result.cpu += cpu_seconds(server_pid) - cpu_before
    for one in results:
        for name, values in one.items():
            result.timings.setdefault(name, []).extend(values)


def private_kb(pid: int) -> int:
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean", "Private_Dirty")):
                total += int(line.split()[1])
    except OSError:
        pass
    return total


def idle_memory(port: int, address: str, pids: Callable[[], list[int]]) -> float:
    """Private memory growth per idle connection with the INBOX selected, in kB.

    What a server process sets up once (the folder's shared caches, its database threads and
    their connections) is made before the baseline: 64 sessions at once, each SELECT and a
    FETCH, so every process and every database thread has served some; 8 of them stay open."""
    from concurrent.futures import ThreadPoolExecutor

    def warm_one(_: int) -> RawClient:
        warm = RawClient(port)
        assert warm.command(f'LOGIN {address} "{PASSWORD}"') == b"OK"
        assert warm.command("SELECT INBOX") == b"OK"
        assert warm.command("FETCH 1:* (FLAGS)") == b"OK"
        return warm

    with ThreadPoolExecutor(16) as pool:
        warmed = list(pool.map(warm_one, range(64)))
    for client in warmed[8:]:
        client.sock.close()
    warming = warmed[:8]
    time.sleep(1)
    before = sum(private_kb(pid) for pid in pids())
    clients = []
    for _ in range(IDLE_CONNECTIONS):
        client = RawClient(port)
        assert client.command(f'LOGIN {address} "{PASSWORD}"') == b"OK"
        assert client.command("SELECT INBOX") == b"OK"
        clients.append(client)
    time.sleep(1)
    after = sum(private_kb(pid) for pid in pids())
    for client in [*warming, *clients]:
        client.sock.close()
    time.sleep(1)
    return (after - before) / IDLE_CONNECTIONS


def cpus_set(dovecot_master: int | None, cpus: set[int]) -> None:
    """Run this process and every Dovecot process (the master's, whose children inherit it, and
    those already forked) on `cpus`."""
    os.sched_setaffinity(0, cpus)
    for pid in process_tree(dovecot_master) if dovecot_master else []:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:  # gone meanwhile
            pass


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


def ratio(theirs: float | None, ours: float) -> str:
    return f"{theirs / ours:6.2f}x" if theirs else "   n/a"


def main() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = [int(s) for s in os.environ.get("BENCH_IMAP_SIZES", "1000,10000,100000").split(",")]
    addresses = {size: yubin_setup(size) for size in sizes}
    yubin, port = yubin_start()
    root = Path(tempfile.mkdtemp(prefix="dovecot-bench-"))
    root.chmod(0o755)  # Dovecot's auth process runs as the dovecot user
    dovecot = dovecot_start(root, sizes)
    try:
        print(
            f"{'command':<28}{'size':>8}{'yubin p50':>11}{'p99':>8}{'cpu µs':>8}{'dovecot p50':>13}{'p99':>8}"
            f"{'cpu µs':>8}{'ratio':>8}{'cpu ratio':>10}"
        )
        allowed = os.sched_getaffinity(0)
        if "latency" in PHASES:
            cpus_set(dovecot[0].pid if dovecot else None, {min(allowed)})
        for size in sizes if "latency" in PHASES else ():
            servers = [(port, yubin.pid)] + ([(dovecot[1], dovecot[0].pid)] if dovecot else [])
            measured = measure(servers, addresses[size], size)
            ours, theirs = measured[0], measured[1] if dovecot else {}
            for name, _ in COMMANDS:
                mine, other = ours[name], theirs.get(name)
                other_text = f"{other.p50:13.2f}{other.p99:8.2f}{other.cpu:8.0f}" if other else f"{'n/a':>13}{'':>16}"
                print(
                    f"{name:<28}{size:>8}{mine.p50:11.2f}{mine.p99:8.2f}{mine.cpu:8.0f}{other_text} "
                    f"{ratio(other.p50 if other else None, mine.p50)}  {ratio(other.cpu if other else None, mine.cpu)}"
                )
            print(flush=True)
        cpus_set(dovecot[0].pid if dovecot else None, allowed)
        small = addresses[sizes[0]]
        mixes = [relogin for relogin, name in ((True, "relogin"), (False, "long")) if name in MIXES]
        for relogin in mixes if "mix" in PHASES else ():
            label = "login/logout every cycle" if relogin else "long-lived sessions"
            print(
                f"mix: {MIX_CLIENTS} clients, {label}, {MIX_ROUNDS} rounds of {MIX_SECONDS:.0f} s each, "
                f"INBOX of {sizes[0]}"
            )
            ours, theirs = MixResult(), MixResult()
            for number in range(MIX_ROUNDS):  # interleaved, so the machine's drift hits both alike
                runs = [(port, yubin.pid, ours, True)]
                runs += [(dovecot[1], dovecot[0].pid, theirs, False)] if dovecot else []
                for run_port, pid, result, is_yubin in runs if number % 2 == 0 else runs[::-1]:
                    run_mix(run_port, small, relogin, pid, result, is_yubin)
            ops, sessions, cpu, ours_mix = ours.rate(), ours.sessions_rate(), ours.cpu_per_command(), ours.percentiles()
            other_ops, other_sessions, other_cpu = theirs.rate(), theirs.sessions_rate(), theirs.cpu_per_command()
            theirs_mix = theirs.percentiles()
            throughput = f"{ops / other_ops:7.2f}x" if other_ops else "    n/a"
            print(f"  {'commands/s':<16}{ops:10.0f}{other_ops:20.0f}{throughput}  (yubin, dovecot, yubin/dovecot)")
            indexed = ours.indexed_rate()
            indexed_ratio = f"{indexed / other_ops:7.2f}x" if other_ops else "    n/a"
            print(f"  {'  with indexing':<16}{indexed:10.0f}{'':20}{indexed_ratio}  (index catch-up as run time)")
            if relogin:
                print(f"  {'sessions/s':<16}{sessions:10.0f}{other_sessions:20.0f}")
            print(f"  {'CPU ms/command':<16}{cpu:10.2f}{other_cpu:20.2f}  (server processes)")
            ours_mean, theirs_mean = ours.means(), theirs.means()
            print(
                f"  {'command':<16}{'yubin p50':>10}{'p99':>8}{'mean':>8}{'dovecot p50':>12}{'p99':>8}{'mean':>8}"
                f"{'ratio':>8}{'mean ratio':>11}"
            )
            for name, (p50, p99) in ours_mix.items():
                other = theirs_mix.get(name)
                mean, other_mean = ours_mean[name], theirs_mean.get(name)
                other_text = f"{other[0]:12.2f}{other[1]:8.2f}{other_mean:8.2f}" if other else f"{'n/a':>12}{'':>16}"
                print(
                    f"  {name:<16}{p50:10.2f}{p99:8.2f}{mean:8.2f}{other_text}"
                    f"{ratio(other[0] if other else None, p50)}   {ratio(other_mean, mean)}"
                )
            print(flush=True)
        if "memory" not in PHASES:
            return
        # A fresh server process, so heap freed by the phases above does not hide the growth.
        yubin.terminate()
        yubin.wait(30)
        yubin, port = yubin_start()
        ours_memory = idle_memory(port, small, lambda: process_tree(yubin.pid))
        print(f"memory per idle connection (INBOX of {sizes[0]} selected, {IDLE_CONNECTIONS} connections):")
        print(f"  yubin   {ours_memory:8.1f} kB")
        if dovecot:
            dovecot_memory = idle_memory(dovecot[1], small, dovecot_pids)
            print(
                f"  dovecot {dovecot_memory:8.1f} kB   ratio dovecot/yubin {dovecot_memory / max(ours_memory, 1):.1f}x"
            )
    finally:
        yubin.terminate()
        yubin.wait(30)
        if dovecot:
            dovecot[0].terminate()
            dovecot[0].wait(30)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
