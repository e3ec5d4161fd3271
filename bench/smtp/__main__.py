"""Messages per second accepted by the MX and delivered into the store, against Postfix + Maildir.

Both servers run on loopback in temporary directories and get the same smtp-source load
(Postfix's load generator, one message per connection as in its man page examples) at 1, 10
and 50 sessions with 4 KB and 64 KB messages. Yubin answers 250 only after the message is
committed in the store, so its accept rate is its delivery rate; for Postfix both are shown
(250 after its queue file is fsynced; Maildir delivery follows) and the ratio is taken
against Postfix's accept rate, the stricter comparison.

BENCH_SMTP_MESSAGES (default 400) sets the messages per run; BENCH_SMTP_LOADS ("1x4096,10x65536")
restricts the matrix; BENCH_SMTP_DATABASE_URL runs Yubin on that database instead of SQLite.
Each load runs BENCH_SMTP_ROUNDS times (default 3), Yubin and Postfix taking turns, and the
table shows the median of each column: a change in the machine's speed during the run weighs
on both alike, and one slow round moves neither figure much.
Yubin runs as an operator runs it (`manage.py agents`, only the MX port open), so
YUBIN_AGENTS_PROCESSES from the environment applies; the run prints how many processes served
and the CPU they used per message, search indexing included: on SQLite the search index is
filled after the commit, in the lulls, so after each Yubin run the bench waits for it to catch up
(before Postfix's run starts) and "yubin indexed" is the rate counting that time too.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.peers.postfix import DELIVERY_SERVICES  # noqa: E402
from bench.peers.postfix import Postfix as PeerPostfix  # noqa: E402
from bench.procs import cpu_seconds, process_tree  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_SMTP_MESSAGES", "400"))
ROUNDS = int(os.environ.get("BENCH_SMTP_ROUNDS", "3"))
LOADS = [(1, 4096), (10, 4096), (50, 4096), (1, 65536), (10, 65536), (50, 65536)]
if os.environ.get("BENCH_SMTP_LOADS"):  # e.g. "1x4096,10x4096"
    LOADS = [
        (int(sessions), int(size))
        for sessions, size in (item.split("x") for item in os.environ["BENCH_SMTP_LOADS"].split(","))
    ]
RECIPIENT = "bench@bench.test"

SETUP = """
import django
django.setup()
from store.services import account_create, domain_create
domain_create(name="bench.test")
account_create(address="bench@bench.test", password="bench password 1")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: nothing listening on port {port}")


def smtp_source(port: int, sessions: int, size: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "smtp-source",
            "-l",
            str(size),
            "-m",
            str(MESSAGES),
            "-s",
            str(sessions),
            "-f",
            "load@remote.example",
            "-t",
            RECIPIENT,
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )
    return time.perf_counter() - started


class Yubin:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            DJANGO_SETTINGS_MODULE="yubin.settings",
            YUBIN_DATA_DIR=str(workdir / "yubin"),
            YUBIN_PORT_SMTP=str(self.port),
            YUBIN_PORT_SUBMISSION="0",
            YUBIN_PORT_SUBMISSIONS="0",
            YUBIN_SMTP_VERIFY_SENDER="0",  # Postfix here checks no SPF/DKIM either
            YUBIN_SMTP_MAX_CONNECTIONS_PER_IP="500",
            YUBIN_LOG_LEVEL="WARNING",
        )
        self.env.pop("DATABASE_URL", None) if "BENCH_SMTP_DATABASE_URL" not in os.environ else self.env.update(
            DATABASE_URL=os.environ["BENCH_SMTP_DATABASE_URL"]
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=self.env, check=True)
        for port in ("IMAP", "IMAPS", "POP3", "POP3S", "SIEVE"):
            self.env[f"YUBIN_PORT_{port}"] = "0"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "agents"], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.processes = 1
        for line in self.process.stdout:
            if "processes sharing the ports" in line:
                self.processes = int(line.split()[1])
            if line.startswith("agents: listening"):
                break
        time.sleep(1)  # the other processes bind their sockets too
        wait_port(self.port)

    def index_wait(self, deadline: float = 600) -> None:
        """Until the search indexer has caught up (SQLite indexes after commit, in the lulls)."""
        if "BENCH_SMTP_DATABASE_URL" in os.environ:
            return  # PostgreSQL indexes in the insert
        import sqlite3

        database = sqlite3.connect(Path(self.env["YUBIN_DATA_DIR"]) / "yubin.sqlite3", timeout=30)
        query = "SELECT (SELECT MAX(id) FROM store_message) > (SELECT indexed_upto FROM store_message_fts_state)"
        end = time.monotonic() + deadline
        try:
            while database.execute(query).fetchone()[0] and time.monotonic() < end:
                time.sleep(0.05)
        finally:
            database.close()

    def pids(self) -> list[int]:
        return process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU of the agents processes so far."""
        return cpu_seconds(self.process.pid)

    def delivered(self) -> int:
        code = "import django; django.setup(); from store.models import Message; print(Message.objects.count())"
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=self.env, capture_output=True, text=True)
        return int(result.stdout.strip() or 0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class Postfix:
    """Postfix delivering bench.test into one Maildir with virtual(8)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.maildir = workdir / "maildir"
        workdir.chmod(0o755)  # Postfix daemons run as the postfix user
        self.maildir.mkdir()
        shutil.chown(self.maildir, "postfix", "postfix")
        uid, gid = os.stat(self.maildir).st_uid, os.stat(self.maildir).st_gid
        main_cf = f"""virtual_mailbox_domains = bench.test
virtual_mailbox_base = {self.maildir}
virtual_mailbox_maps = static:bench/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
message_size_limit = 60000000
virtual_mailbox_limit = 0
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
"""
        self.server = PeerPostfix(workdir / "postfix", port=self.port, main_cf=main_cf, services=DELIVERY_SERVICES)
        self.server.start()
        wait_port(self.port)

    def delivered(self) -> int:
        new = self.maildir / "bench" / "new"
        return len(os.listdir(new)) if new.exists() else 0

    def wait_delivered(self, count: int, deadline: float = 300) -> None:
        end = time.monotonic() + deadline
        while self.delivered() < count and time.monotonic() < end:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.stop()


@dataclass(frozen=True)
class Round:
    """One round of a load: msg/s of each, and Yubin's CPU per message (ms)."""

    yubin: float
    postfix: float
    postfix_maildir: float
    yubin_indexed: float
    yubin_cpu_ms: float


def main() -> int:
    if shutil.which("smtp-source") is None and not Path("/usr/sbin/smtp-source").exists():
        print("bench/smtp: smtp-source (Debian package postfix) is not installed")
        return 1
    os.environ["PATH"] += ":/usr/sbin"
    with tempfile.TemporaryDirectory(prefix="yubin-bench-smtp-") as temp:
        workdir = Path(temp)
        yubin = Yubin(workdir)
        try:
            postfix = Postfix(workdir)
        except BaseException:
            yubin.stop()
            raise
        database = "PostgreSQL" if "BENCH_SMTP_DATABASE_URL" in os.environ else "SQLite"
        print(f"{MESSAGES} messages per run, one per connection, {ROUNDS} rounds; medians in msg/s; ", end="")
        print(f"Yubin on {database}, ", end="")
        print(f"{yubin.processes} agents process(es) (YUBIN_AGENTS_PROCESSES)")
        print(
            f"{'sessions':>8} {'size':>6} {'yubin':>9} {'postfix 250':>12} {'postfix maildir':>16} {'ratio':>6} "
            f"{'yubin indexed':>14} {'yubin cpu ms/msg':>17}   ratio per round"
        )
        try:
            yubin_total = postfix_total = 0
            for sessions, size in LOADS:
                rounds: list[Round] = []
                for _ in range(ROUNDS):
                    cpu_before = yubin.cpu_seconds()
                    yubin_seconds = smtp_source(yubin.port, sessions, size)
                    indexing_started = time.perf_counter()
                    yubin.index_wait()  # Postfix's run gets the machine to itself, as Yubin's did
                    indexed_seconds = yubin_seconds + time.perf_counter() - indexing_started
                    cpu_per_message = (yubin.cpu_seconds() - cpu_before) / MESSAGES * 1000
                    yubin_total += MESSAGES
                    accept_started = time.perf_counter()
                    postfix_seconds = smtp_source(postfix.port, sessions, size)
                    postfix_total += MESSAGES
                    postfix.wait_delivered(postfix_total)
                    postfix_delivered_seconds = time.perf_counter() - accept_started
                    rounds.append(
                        Round(
                            yubin=MESSAGES / yubin_seconds,
                            postfix=MESSAGES / postfix_seconds,
                            postfix_maildir=MESSAGES / postfix_delivered_seconds,
                            yubin_indexed=MESSAGES / indexed_seconds,
                            yubin_cpu_ms=cpu_per_message,
                        )
                    )
                yubin_rate = statistics.median(r.yubin for r in rounds)
                postfix_rate = statistics.median(r.postfix for r in rounds)
                print(
                    f"{sessions:>8} {size // 1024:>5}K {yubin_rate:>9.0f} {postfix_rate:>12.0f} "
                    f"{statistics.median(r.postfix_maildir for r in rounds):>16.0f} "
                    f"{yubin_rate / postfix_rate:>5.2f}x "
                    f"{statistics.median(r.yubin_indexed for r in rounds):>14.0f} "
                    f"{statistics.median(r.yubin_cpu_ms for r in rounds):>17.2f}   "
                    + " ".join(f"{r.yubin / r.postfix:.2f}" for r in rounds),
                    flush=True,
                )
            stored = yubin.delivered()
            print(f"stored by Yubin: {stored}/{yubin_total}; Maildir files: {postfix.delivered()}/{postfix_total}")
        finally:
            yubin.stop()
            postfix.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
