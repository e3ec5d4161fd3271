"""A real Celery worker (with beat) working the queue through the filesystem broker, killed and restarted.

Delivery is at-least-once (DESIGN rule 2). These tests show that a worker killed with SIGKILL
during DATA, a broker that loses its messages, and remote 421/451 answers all end in exactly
one delivered copy when the remote had not taken the message. A duplicate happens in one window:
the remote has taken the message (final dot received) and the worker dies before the 250 reaches
it or before the outcome commits; the lease expires and the next attempt sends it again. The
last test forces that window and shows the second copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from store.models import OutboundRecipient
from tests.agents.mta.conftest import message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host = config.get("HOST") or "127.0.0.1"
    port = config.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{config['NAME']}"


class Worker:
    """`celery -A yubin worker -B` in its own process group, sharing the test's data dir and database."""

    def __init__(self, relay_env, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "yubin.settings_test",
            "YUBIN_DATA_DIR": str(django_settings.DATA_DIR),
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": "filesystem://",
            "YUBIN_DNS_RESOLVERS": relay_env.dns.address,
            "YUBIN_RELAY_PORT": str(relay_env.sink.port),
            "YUBIN_RELAY_SWEEP_INTERVAL": "1",
            "YUBIN_RELAY_LEASE": "4",
            "YUBIN_RELAY_RETRY_FIRST": "1",
            "YUBIN_RELAY_RETRY_MAX": "2",
            "YUBIN_RELAY_REUSE_SECONDS": "0",
            "YUBIN_RELAY_COMMAND_TIMEOUT": "20",
        }
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "yubin", "worker", "-B", "-c", "1", "-l", "info",
             "-s", str(django_settings.DATA_DIR / "celerybeat-schedule")],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group: the main process and its pool child die mid-work."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker(relay_env, tmp_path):
    made: list[Worker] = []

    def make() -> Worker:
        w = Worker(relay_env, tmp_path / "worker.log")
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def _wait(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _broker_messages() -> list[Path]:
    return list((django_settings.BROKER_DIR / "out").glob("*.msg"))


def test_worker_killed_during_data_then_restarted_delivers_exactly_once(relay_env, worker, tmp_path):
    """SIGKILL while the remote holds its DATA reply: the row's lease expires, the next worker
    delivers it, and the remote has exactly one copy."""
    relay_env.sink.handler.data_delay = 3.0
    outbound = relay_env.enqueue()
    first = worker().start()
    _wait(relay_env.sink.handler.data_started.is_set, what="DATA to start")
    first.kill()
    relay_env.sink.handler.data_delay = 0
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.state == "queued" and row.attempts == 1  # claimed, never finished
    time.sleep(3.5)  # the dying session is refused by the remote, not taken
    assert relay_env.sink.received == []
    worker().start()
    _wait(lambda: OutboundRecipient.objects.get(message=outbound).state == "sent", what="delivery",
          timeout=90)  # fmt: skip
    time.sleep(3)  # further sweeps must not send it again
    assert len(relay_env.sink.received) == 1, (tmp_path / "worker.log").read_text()[-3000:]
    assert OutboundRecipient.objects.get(message=outbound).attempts == 2


def test_worker_killed_after_the_remote_took_the_message_sends_a_duplicate(relay_env, worker, tmp_path):
    """The at-least-once window: the remote keeps the message at the final dot, the worker dies
    before hearing 250; the next attempt delivers again, so the remote holds two copies."""
    relay_env.sink.handler.data_delay = 3.0
    relay_env.sink.handler.keep_before_reply = True
    outbound = relay_env.enqueue()
    first = worker().start()
    _wait(relay_env.sink.handler.data_started.is_set, what="DATA to start")
    first.kill()
    relay_env.sink.handler.data_delay = 0
    worker().start()
    _wait(lambda: OutboundRecipient.objects.get(message=outbound).state == "sent", what="delivery",
          timeout=90)  # fmt: skip
    assert len(relay_env.sink.received) == 2, (tmp_path / "worker.log").read_text()[-3000:]
    assert relay_env.sink.received[0].data == relay_env.sink.received[1].data


def test_lost_broker_messages_are_found_by_the_sweep(relay_env, worker, tmp_path):
    """Broker down and restarted empty: the messages queued meanwhile are all delivered once, by the sweep."""
    outbounds = [relay_env.enqueue(raw=message(subject=f"lost {n}")) for n in range(5)]
    for path in _broker_messages():  # the restarted broker has lost every message
        path.unlink()
    worker().start()
    _wait(lambda: len(relay_env.sink.received) >= 5, what="five deliveries", timeout=90)
    time.sleep(3)
    subjects = sorted(r.data.split(b"Subject: ")[1].split(b"\r\n")[0] for r in relay_env.sink.received)
    assert subjects == [f"lost {n}".encode() for n in range(5)], (tmp_path / "worker.log").read_text()[-3000:]
    assert set(OutboundRecipient.objects.filter(message__in=outbounds).values_list("state", flat=True)) == {"sent"}


def test_worker_retries_421_then_451_then_delivers(relay_env, worker, tmp_path):
    """The remote answers 421, then 451, then accepts: one copy arrives, after three attempts."""
    relay_env.sink.handler.mail_replies.append("421 4.3.2 try later")
    relay_env.sink.handler.rcpt_replies.append("451 4.3.0 try later")
    outbound = relay_env.enqueue()
    worker().start()
    _wait(lambda: OutboundRecipient.objects.get(message=outbound).state == "sent", what="delivery", timeout=90)
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.attempts == 3, (tmp_path / "worker.log").read_text()[-3000:]
    assert len(relay_env.sink.received) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a server session that can be cut")
def test_worker_replaces_a_database_session_the_server_ended(relay_env, worker, tmp_path):
    """The worker keeps its PostgreSQL session across tasks; when the server ends it (a restart,
    an administrator), the next task notices and opens a new one: both messages are delivered."""
    first = relay_env.enqueue(raw=message(subject="before"))
    worker().start()
    _wait(lambda: OutboundRecipient.objects.get(message=first).state == "sent", what="first delivery")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchall(), "the worker kept no session open"
    second = relay_env.enqueue(raw=message(subject="after"))
    _wait(lambda: OutboundRecipient.objects.get(message=second).state == "sent", what="second delivery")
    assert len(relay_env.sink.received) == 2, (tmp_path / "worker.log").read_text()[-3000:]
