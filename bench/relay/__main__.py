"""Relay throughput: Yubin's agents + queue + Celery workers against Postfix, both to Postfix's smtp-sink.

    python -m bench relay   (BENCH_RELAY_MESSAGES=1000, BENCH_RELAY_WORKERS=4,
                             BENCH_RELAY_DATABASE_URL=postgres://... instead of SQLite,
                             BENCH_RELAY_PYSPY=DIR: py-spy profiles (GIL holders) of the worker and the agents
                             process as collapsed stacks in DIR)

Each case sends N messages of ~3 KB to 1 and to 10 destination domains (MX records from a DNS
server on loopback, all pointing at one smtp-sink), with `smtp-source -s 10` (10 sessions in all,
10 // domains per domain). Figures, each until the sink has N:
- yubin e2e:   smtp-source -> the MX of a real `manage.py agents` process (alias dI@relay.bench.test
               -> user@dI.bench.test; the SMTP group commit queues the rows) -> Celery workers -> sink.
- postfix e2e: smtp-source -> Postfix's smtpd -> its queue -> smtp(8) -> sink. Same path.
- yubin relay: N rows already in the queue, all dispatched at t0 (the relay alone).
Ratios: each Yubin rate over Postfix's in the same run. CPU: milliseconds per message of each
side's processes over the case (Yubin: the agents process and the Celery worker's processes;
Postfix: every process of its master), the stable measure on a shared machine.
Each case runs BENCH_RELAY_ROUNDS times (default 3), Yubin and Postfix taking turns at going
first, and the table shows the median of each column with the e2e ratio of every round: on a
shared machine one run of each moved the ratio by a third from one invocation to the next.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.procs import session_cpu_seconds

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = int(os.environ.get("BENCH_RELAY_MESSAGES", "1000"))
WORKERS = int(os.environ.get("BENCH_RELAY_WORKERS", "4"))
HOUR = datetime.timedelta(hours=1)
TIMEOUT = int(os.environ.get("BENCH_RELAY_TIMEOUT", "300"))
ROUNDS = max(1, int(os.environ.get("BENCH_RELAY_ROUNDS", "3")))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CpuMeter:
    """CPU milliseconds per message of some process sessions between start() and per_message()."""

    def __init__(self, *leaders: int) -> None:
        self.leaders = leaders
        self.begin = 0.0

    def start(self) -> None:
        self.begin = sum(session_cpu_seconds(leader) for leader in self.leaders)

    def per_message(self) -> float:
        return (sum(session_cpu_seconds(leader) for leader in self.leaders) - self.begin) * 1000 / MESSAGES


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on port {port}")


class SinkCounter:
    """Postfix's smtp-sink dumping each transaction to a file; the files are the count."""

    def __init__(self, root: Path) -> None:
        self.dump = root / "dump"
        self.dump.mkdir(parents=True)
        os.chmod(root, 0o755)
        os.chmod(self.dump, 0o777)
        self.port = free_port()
        command = ["/usr/sbin/smtp-sink", "-d", f"{self.dump}/%M.", f"127.0.0.1:{self.port}", "256"]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def count(self) -> int:
        return sum(1 for _ in self.dump.iterdir())

    def wait(self, target: int) -> float:
        deadline = time.monotonic() + TIMEOUT
        while self.count() < target:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: timed out at {self.count()} of {target} messages")
            time.sleep(0.05)
        return time.monotonic()

    def clear(self) -> None:
        for path in self.dump.iterdir():
            path.unlink()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def raw_message(number: int, domain: str) -> bytes:
    body = "".join(f"line {i} of a typical short message body, with some words in it.\r\n" for i in range(40))
    return (
        f"From: Bench <bench@example.test>\r\nTo: <user{number}@{domain}>\r\nSubject: bench {number}\r\n"
        f"Message-ID: <bench-{number}-{time.time_ns()}@example.test>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}"
    ).encode()


def queue_settled() -> None:
    """Wait until every queue row has its outcome committed (the sink sees a message a moment before)."""
    from store.models import OutboundRecipient, QueueState

    deadline = time.monotonic() + TIMEOUT
    pending = OutboundRecipient.objects.filter(state__in=(QueueState.QUEUED, QueueState.DEFERRED))
    while pending.exists():
        if time.monotonic() > deadline:
            raise SystemExit("bench: queue rows left without an outcome")
        time.sleep(0.05)


def yubin_run(sink: SinkCounter, domains: int, worker_cpu: CpuMeter) -> float:
    """The relay alone: N messages queued from this process before t0, then all dispatched at t0."""
    from django.db import transaction
    from django.utils import timezone

    from store.models import OutboundRecipient
    from store.services import queue as queue_services

    sink.clear()
    hooks = list(queue_services._dispatch_hooks)
    queue_services._dispatch_hooks.clear()  # nothing is sent before t0
    try:
        ids = []
        with transaction.atomic():
            for number in range(MESSAGES):
                domain = f"d{number % domains}.bench.test"
                outbound = queue_services.queue_enqueue(
                    raw=raw_message(number, domain),
                    sender="bench@example.test",
                    recipients=[queue_services.QueueRecipient(f"user{number}@{domain}")],
                )
                ids.append(outbound.pk)
            # not due until t0, whatever task a worker still has in hand
            OutboundRecipient.objects.filter(message_id__in=ids).update(next_attempt=timezone.now() + HOUR)
    finally:
        queue_services._dispatch_hooks[:] = hooks
    worker_cpu.start()
    start = time.monotonic()
    OutboundRecipient.objects.filter(message_id__in=ids).update(next_attempt=timezone.now())
    queue_services.queue_dispatch(ids)  # the agents' path: YUBIN_RELAY_BATCH messages per task
    end = sink.wait(MESSAGES)
    queue_settled()
    return MESSAGES / (end - start)


def smtp_source(port: int, recipient: str, count: int, domains: int) -> subprocess.Popen:
    """Postfix's load generator: `count` messages of ~3 KB over max(1, 10/domains) sessions."""
    command = ["/usr/sbin/smtp-source", "-s", str(max(1, 10 // domains)), "-m", str(count), "-l", "2600"]
    command += ["-f", "bench@example.test", "-t", recipient, f"127.0.0.1:{port}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def smtp_run(sink: SinkCounter, port: int, domains: int, *, recipient: str) -> tuple[float, float]:
    """smtp-source into a server at `port`; `recipient` with {i} for the destination domain's number.
    Returns (accepted, delivered) messages per second: until smtp-source is done, until the sink has all."""
    sink.clear()
    start = time.monotonic()
    per_domain = [MESSAGES // domains + (1 if i < MESSAGES % domains else 0) for i in range(domains)]
    sources = [smtp_source(port, recipient.format(i=i), count, domains) for i, count in enumerate(per_domain) if count]
    for source in sources:
        source.wait(TIMEOUT)
    accepted = time.monotonic()
    end = sink.wait(MESSAGES)
    return MESSAGES / (accepted - start), MESSAGES / (end - start)


def yubin_directory() -> None:
    """The local domain of the MX and one alias per destination domain (DESIGN: remote targets queue)."""
    from store.models import Domain
    from store.services import alias_create, domain_create

    if Domain.objects.filter(name="relay.bench.test").exists():  # a reused PostgreSQL database
        return
    domain_create(name="relay.bench.test")
    for i in range(10):
        alias_create(source=f"d{i}@relay.bench.test", destinations=[f"user@d{i}.bench.test"])


def agents_start(root: Path) -> tuple[subprocess.Popen, int]:
    """A real agents process with only the MX listener."""
    port = free_port()
    env = os.environ.copy()
    env.update(YUBIN_PORT_SMTP=str(port), YUBIN_SMTP_VERIFY_SENDER="0", YUBIN_SMTP_MAX_CONNECTIONS_PER_IP="500")
    for name in ("SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "SIEVE"):
        env[f"YUBIN_PORT_{name}"] = "0"
    agents = subprocess.Popen(
        [sys.executable, "manage.py", "agents"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=(root / "agents.log").open("wb"), start_new_session=True,
    )  # fmt: skip
    wait_port(port)
    return agents, port


def profilers_start(pids: dict[str, int]) -> list[subprocess.Popen]:
    """py-spy on each process (and its children) when BENCH_RELAY_PYSPY names a directory."""
    out = os.environ.get("BENCH_RELAY_PYSPY")
    if not out:
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    profilers = []
    for name, pid in pids.items():
        command = [str(spy), "record", "--gil", "--subprocesses", "--format", "raw", "--rate", "200", "-p", str(pid)]
        command += ["-o", str(Path(out) / f"{name}.txt")]
        profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return profilers


def profilers_stop(profilers: list[subprocess.Popen]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(60)


def _medians(rows: Sequence[tuple[float, ...]]) -> list[float]:
    """The median of each column of the rounds' rows."""
    return [statistics.median(column) for column in zip(*rows, strict=True)]


def stop_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def main() -> int:
    for tool in ("/usr/sbin/smtp-sink", "/usr/sbin/smtp-source", "/usr/sbin/postfix"):
        if not Path(tool).exists():
            print(f"bench relay: {tool} is missing (Debian package postfix)")
            return 1
    root = Path(tempfile.mkdtemp(prefix="yubin-bench-relay-"))
    os.chmod(root, 0o755)  # smtp-sink and Postfix drop privileges and must reach their directories
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "yubin.settings",
            "YUBIN_DATA_DIR": str(root / "data"),
            "YUBIN_HOSTNAME": "yubin.bench.test",
            "YUBIN_RELAY_REUSE_SECONDS": "5",
            "YUBIN_LOG_LEVEL": "WARNING",
        }
    )
    if os.environ.get("BENCH_RELAY_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_RELAY_DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    sink = SinkCounter(root / "sink")
    from tests.dnsserver import DnsServer

    zone: dict[str, list[tuple[str, str]]] = {}
    for i in range(10):
        zone[f"d{i}.bench.test"] = [("MX", f"10 mx.d{i}.bench.test.")]
        zone[f"mx.d{i}.bench.test"] = [("A", "127.0.0.1")]
    dns_server = DnsServer(zone, ttl=300).start()
    os.environ["YUBIN_DNS_RESOLVERS"] = dns_server.address
    os.environ["YUBIN_RELAY_PORT"] = str(sink.port)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    yubin_directory()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "yubin", "worker", "-c", str(WORKERS), "-l", "warning"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=(root / "worker.log").open("wb"),
        start_new_session=True,
    )  # fmt: skip
    postfix = agents = None
    try:
        from bench.peers.postfix import Postfix

        agents, agents_port = agents_start(root)
        postfix_port = free_port()
        relay_cf = f"relayhost = [127.0.0.1]:{sink.port}\nsmtpd_relay_restrictions = permit_mynetworks, reject\n"
        postfix = Postfix(root / "postfix", port=postfix_port, main_cf=relay_cf + "smtp_tls_security_level = none\n")
        postfix.start()
        wait_port(postfix_port)
        time.sleep(2)  # the workers connect to the broker
        print(
            f"relay: {MESSAGES} messages of ~3 KB per case, {WORKERS} Celery worker processes, 2 cores shared, "
            f"{ROUNDS} rounds (medians)"
        )
        print("e2e: until the sink has them all; accepted: until smtp-source is done")
        print("cpu: ms per message of the agents process, the Celery worker, Postfix (all its processes)")
        print(
            f"{'domains':>8} {'yubin e2e':>10} {'postfix e2e':>12} {'e2e/pf':>7} {'yubin accepted':>15} "
            f"{'pf accepted':>12} {'yubin relay':>12} {'relay/pf':>9} {'cpu agents':>11} {'cpu worker':>11} "
            f"{'cpu postfix':>12} {'cpu relay':>10}  e2e/pf per round"
        )
        postfix_master = int((root / "postfix" / "queue" / "pid" / "master.pid").read_text().split()[0])
        agents_cpu, worker_cpu, postfix_cpu = CpuMeter(agents.pid), CpuMeter(worker.pid), CpuMeter(postfix_master)
        profilers = profilers_start({"worker": worker.pid, "agents": agents.pid})
        for domains in (1, 10):
            ours: list[tuple[float, float, float, float]] = []  # accepted, e2e, agents ms, worker ms
            theirs: list[tuple[float, float, float]] = []  # accepted, e2e, ms
            for number in range(ROUNDS):  # taking turns: the machine's drift weighs on both alike
                for side in ("yubin", "postfix") if number % 2 == 0 else ("postfix", "yubin"):
                    if side == "yubin":
                        agents_cpu.start()
                        worker_cpu.start()
                        accepted, e2e_rate = smtp_run(sink, agents_port, domains, recipient="d{i}@relay.bench.test")
                        queue_settled()
                        ours.append((accepted, e2e_rate, agents_cpu.per_message(), worker_cpu.per_message()))
                    else:
                        postfix_cpu.start()
                        accepted, e2e_rate = smtp_run(sink, postfix_port, domains, recipient="user@d{i}.bench.test")
                        time.sleep(0.5)  # its queue manager notes the last deliveries
                        theirs.append((accepted, e2e_rate, postfix_cpu.per_message()))
            accepted, e2e_rate, agents_ms, worker_ms = _medians(ours)
            postfix_accepted, postfix_rate, postfix_ms = _medians(theirs)
            per_round = " ".join(f"{mine[1] / other[1]:.2f}" for mine, other in zip(ours, theirs, strict=True))
            relay_rate = yubin_run(sink, domains, worker_cpu)
            relay_ms = worker_cpu.per_message()
            print(
                f"{domains:>8} {e2e_rate:>8.0f}/s {postfix_rate:>10.0f}/s {e2e_rate / postfix_rate:>6.2f}x "
                f"{accepted:>13.0f}/s {postfix_accepted:>10.0f}/s "
                f"{relay_rate:>10.0f}/s {relay_rate / postfix_rate:>8.2f}x "
                f"{agents_ms:>11.2f} {worker_ms:>11.2f} {postfix_ms:>12.2f} {relay_ms:>10.2f}  {per_round}",
                flush=True,
            )
        profilers_stop(profilers)
    except SystemExit:
        print((root / "worker.log").read_text()[-3000:])
        print((root / "agents.log").read_text()[-3000:])
        raise
    finally:
        stop_group(worker)
        if agents is not None:
            stop_group(agents)
        if postfix is not None:
            postfix.stop()
        sink.stop()
        dns_server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
