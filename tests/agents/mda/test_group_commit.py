"""Group commit: a batch that fails as a whole is retried message by message, so one bad message
costs the others nothing and every outcome matches what was committed."""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any

import pytest
from django.db import connection

from agents.mda.deliver import DeliveryJob, RecipientPlan, batch_deliver
from store.models import DeliveryLog, Message
from store.parse import ParsedMessage
from store.selectors.smtp import recipient_resolve


def job(n: int, address: str) -> DeliveryJob:
    raw = f"From: a@remote.example\r\nSubject: batch {n}\r\nMessage-ID: <{n}@remote.example>\r\n\r\nx\r\n".encode()
    return DeliveryJob(
        raw=raw,
        sender="a@remote.example",
        recipients=[RecipientPlan(address, accounts=recipient_resolve(address).accounts)],
    )


def test_batch_of_three_one_broken(make_account: Any) -> None:
    """The middle message's parse failed: it gets a failure, the other two are
    delivered once each and reported delivered."""
    taro = make_account("taro@example.test")
    broken = job(2, "taro@example.test")
    failed: Future[ParsedMessage] = Future()
    failed.set_exception(RuntimeError("parser crashed"))
    broken.parsed = failed
    outcomes = batch_deliver([job(1, "taro@example.test"), broken, job(3, "taro@example.test")])
    assert [o.ok for o in outcomes] == [True, False, True]
    subjects = sorted(Message.objects.filter(folder__account=taro).values_list("subject", flat=True))
    assert subjects == ["batch 1", "batch 3"]
    assert DeliveryLog.objects.filter(event="delivered").count() == 2


def test_batch_delivers_all_in_one_transaction(make_account: Any) -> None:
    """Messages to several accounts in one batch: all delivered, UIDs in batch order per folder."""
    taro = make_account("taro@example.test")
    hanako = make_account("hanako@example.test")
    jobs = [job(n, "taro@example.test" if n % 2 else "hanako@example.test") for n in range(1, 7)]
    assert all(o.ok for o in batch_deliver(jobs))
    for account, expected in ((taro, ["batch 1", "batch 3", "batch 5"]), (hanako, ["batch 2", "batch 4", "batch 6"])):
        rows = Message.objects.filter(folder__account=account).order_by("uid").values_list("uid", "subject")
        assert list(rows) == list(enumerate(expected, start=1))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's log flush after the write lock")
def test_batch_is_flushed_after_the_write_lock_and_a_failed_flush_answers_no(make_account, monkeypatch) -> None:
    """On SQLite the batch commits without waiting for the disk and flushes the database's log
    once the write lock is released, so other processes' batches need not wait for that flush;
    a flush the disk refuses makes every message of the batch fail (451), committed or not."""
    import agents.mda.deliver as deliver
    from store import writelock

    taro = make_account("taro@example.test")
    seen: list[tuple[bool, int]] = []  # per flush: lock still held, messages committed by then

    def recorded() -> None:
        seen.append((getattr(writelock._held, "holding", False), Message.objects.filter(folder__account=taro).count()))

    monkeypatch.setattr(deliver, "commit_flush", recorded)
    assert all(o.ok for o in batch_deliver([job(1, "taro@example.test"), job(2, "taro@example.test")]))
    assert seen == [(False, 2)]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL: the commit itself did not wait

    def refused() -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(deliver, "commit_flush", refused)
    assert [o.ok for o in batch_deliver([job(3, "taro@example.test")])] == [False]


def test_commit_flush_follows_a_log_made_anew(transactional_db) -> None:
    """commit_flush keeps the log file open between calls and opens it again once it is another
    file (the database's log is deleted when its last connection closes, and made anew)."""
    from store import durability

    if not durability.commits_flush_after_lock():
        durability.commit_flush()  # a database server flushes its own log: nothing to do
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    durability.commit_flush()
    wal = str(connection.settings_dict["NAME"]) + "-wal"
    first = durability._wal_files[wal]
    durability.commit_flush()
    assert durability._wal_files[wal] == first
    os.rename(wal, wal + ".old")
    try:
        with open(wal, "wb"):
            pass
        durability.commit_flush()
        assert durability._wal_files[wal] != first and durability._wal_files[wal][1] == os.stat(wal).st_ino
    finally:
        os.replace(wal + ".old", wal)
    durability.commit_flush()
    assert durability._wal_files[wal][1] == first[1]
