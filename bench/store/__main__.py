"""bench/store: delivery throughput and folder-listing cost of the store, on SQLite and PostgreSQL.

1. Deliver 10,000 messages (5-50 KB, mixed) into one folder through store.services.message_deliver
   (blob fsync + transaction commit each): messages/s and p50/p99 per delivery.
2. For folders of 1k, 10k and 100k messages: the cost of one page of 50 (newest first, the columns
   a message list shows) and of loading every UID + flags (what IMAP `UID FETCH 1:* (FLAGS)` needs).
   The page cost must stay flat as the folder grows.

Each backend runs in its own child process with its own throw-away data directory and database.
BENCH_STORE_MESSAGES overrides the 10,000 (e.g. for a quick run).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

POSTGRES_URL = "postgres://root@127.0.0.1:5432/yubin_bench_store"
FOLDER_SIZES = (1_000, 10_000, 100_000)


def make_message(index: int, rng: random.Random) -> bytes:
    size = rng.randint(5_000, 50_000)
    body_line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    body = body_line * (size // len(body_line))
    headers = (
        f"From: Sender {index % 97} <sender{index % 97}@example.test>\r\n"
        f"To: taro@example.test\r\nSubject: Bench message {index}\r\n"
        f"Message-ID: <bench.{index}.{rng.random()}@example.test>\r\n"
        f"Date: Sat, 28 Nov 2026 10:00:00 +0900\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    return headers + body


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def child(label: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from store.models import Folder, Message
    from store.services import DeliveryTarget, account_create, domain_create, message_deliver

    domain_create(name="example.test")
    account = account_create(address="taro@example.test", password="benchmark-password", quota=0)
    count = int(os.environ.get("BENCH_STORE_MESSAGES", "10000"))
    rng = random.Random(7)
    messages = [make_message(i, rng) for i in range(count)]
    target = [DeliveryTarget(account_id=account.pk)]
    latencies = []
    started = time.perf_counter()
    for raw in messages:
        t0 = time.perf_counter()
        message_deliver(raw=raw, targets=target)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    mb = sum(len(m) for m in messages) / 1e6
    print(
        f"{label:<10} deliver {count} msgs ({mb:.0f} MB): {count / elapsed:7.0f} msg/s  "
        f"p50 {percentile(latencies, 0.5) * 1000:6.2f} ms  p99 {percentile(latencies, 0.99) * 1000:6.2f} ms",
        flush=True,
    )

    inbox = Folder.objects.get(account=account, name="INBOX")
    template = Message.objects.filter(folder=inbox).first()
    assert template is not None
    for size in FOLDER_SIZES:
        folder = Folder.objects.create(account=account, name=f"Scale{size}", uid_validity=1)
        fill_folder(folder, template, size)
        page = timed(lambda f=folder: list(page_of_50(f)))
        all_flags = timed(lambda f=folder: list(Message.objects.filter(folder=f).values_list("uid", "flags")))
        print(
            f"{label:<10} folder {size:>7}: page of 50 {page * 1000:7.2f} ms   "
            f"all UIDs+flags {all_flags * 1000:8.1f} ms",
            flush=True,
        )
    connection.close()


def page_of_50(folder):  # type: ignore[no-untyped-def]
    from store.models import Message

    return (
        Message.objects.filter(folder=folder)
        .order_by("-uid")
        .values_list("uid", "flags", "subject", "from_display", "date_sent", "size", "has_attachments")[:50]
    )


def fill_folder(folder, template, size: int) -> None:  # type: ignore[no-untyped-def]
    """Bulk-insert rows that share one blob: the listing cost depends on rows, not on bytes."""
    from django.db import connection

    from store.models import Message

    batch = []
    for uid in range(1, size + 1):
        batch.append(
            Message(
                folder=folder, uid=uid, modseq=uid, flags=uid % 3, internal_date=template.internal_date,
                size=template.size, blob_id=template.blob_id, subject=f"Scale message {uid}",
                from_display=template.from_display, date_sent=template.date_sent,
            )
        )  # fmt: skip
        if len(batch) == 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load; without statistics the planner sorts instead of
        # walking the (folder, uid) index backwards.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE store_message")
    folder.uid_next = size + 1
    folder.message_count = size
    folder.save()


def timed(action) -> float:  # type: ignore[no-untyped-def]
    """Median of 9 warm runs."""
    action()
    samples = []
    for _ in range(9):
        t0 = time.perf_counter()
        action()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def ensure_postgres_database() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS yubin_bench_store")
            conn.execute("CREATE DATABASE yubin_bench_store")
        return True
    except Exception as exc:
        print(f"postgresql unavailable, skipped: {exc}")
        return False


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    runs = [("sqlite", None)]
    if ensure_postgres_database():
        runs.append(("postgresql", POSTGRES_URL))
    status = 0
    for label, url in runs:
        with tempfile.TemporaryDirectory(prefix="yubin-bench-store-") as data_dir:
            env = dict(os.environ, YUBIN_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="yubin.settings")
            env.pop("DATABASE_URL", None)
            if url:
                env["DATABASE_URL"] = url
            result = subprocess.run([sys.executable, "-m", "bench.store", "--child", label], env=env, check=False)
            status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
