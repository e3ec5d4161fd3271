"""Change events reach subscribers in this process at once and from other processes within a second."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from store.changes import Change, change_listener_start, subscribe
from store.services import DeliveryTarget, message_deliver

RAW = b"Subject: ping\r\n\r\nping\r\n"


def collect() -> tuple[list[Change], threading.Event, object]:
    seen: list[Change] = []
    arrived = threading.Event()

    def on_change(change: Change) -> None:
        seen.append(change)
        if change.kind == "add":
            arrived.set()

    return seen, arrived, subscribe(on_change)


def test_local_change_published_after_commit(make_account):
    account = make_account("taro@example.test")
    seen, arrived, unsubscribe = collect()
    try:
        message_deliver(raw=RAW, targets=[DeliveryTarget(account_id=account.pk)])
        assert arrived.wait(1)
        adds = [c for c in seen if c.kind == "add"]
        assert adds[-1].account_id == account.pk and adds[-1].modseq > 0
    finally:
        unsubscribe()  # type: ignore[operator]


def test_change_from_another_process_arrives_within_a_second(make_account, subprocess_env):
    """A delivery made by another process is announced here (SQLite poll / PostgreSQL NOTIFY)."""
    account = make_account("taro@example.test")
    listener = change_listener_start()
    time.sleep(0.5)  # let the listener take its starting point
    seen, arrived, unsubscribe = collect()
    script = (
        "import django; django.setup()\n"
        "from store.services import DeliveryTarget, message_deliver\n"
        f"message_deliver(raw={RAW!r}, targets=[DeliveryTarget(account_id={account.pk})])\n"
        "import time; print(time.time(), flush=True)\n"
    )
    try:
        output = subprocess.run(
            [sys.executable, "-c", script], env=subprocess_env, capture_output=True, text=True, timeout=60
        )
        assert output.returncode == 0, output.stderr
        committed_at = float(output.stdout.strip())
        assert arrived.wait(5)
        assert time.time() - committed_at < 1.5
        assert any(c.account_id == account.pk for c in seen)
    finally:
        unsubscribe()  # type: ignore[operator]
        listener.stop()
        listener.join(5)


def test_a_commit_notifies_the_listeners_of_postgresql_once_with_the_last_change(transactional_db, make_account):
    """On PostgreSQL a delivery's commit sends one NOTIFY on the changes channel naming its last
    change row (the listeners of other processes read from there), and none before the commit."""
    import pytest
    from django.db import connection, transaction

    from store.changes import NOTIFY_CHANNEL, changes_record
    from store.models import ChangeEvent

    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    import psycopg

    account = make_account("taro@example.test")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with transaction.atomic():
            changes_record([(account.pk, None, "flags", 1), (account.pk, None, "flags", 2)])
            assert list(listener.notifies(timeout=0.3, stop_after=1)) == []  # not before the commit
        notes = list(listener.notifies(timeout=5, stop_after=1))
        last = ChangeEvent.objects.order_by("-id").values_list("id", flat=True).first()
        assert [(note.channel, note.payload) for note in notes] == [(NOTIFY_CHANNEL, str(last))]
        assert list(listener.notifies(timeout=0.3, stop_after=1)) == []  # one for the batch
