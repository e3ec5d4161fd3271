"""How "deliver rows ..." tasks reach the broker: the agents' dispatch thread, the sweep, the
embedded broker's message files. Read back from the configured broker with kombu."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from agents.mta import hooks
from agents.mta.queue import relay_sweep
from store.models import OutboundRecipient
from store.services import queue as queue_services
from tests.agents.mta.conftest import message
from yubin.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def _purge() -> None:
    with app.connection_for_write() as conn:
        conn.SimpleQueue("celery").clear()


def _dispatch_idle() -> None:
    """Until ids an earlier test left to the dispatch thread have gone out: a batch it is still
    gathering (for up to one interval) would take this test's ids in too."""
    deadline = time.monotonic() + 10
    while not hooks._pending.empty() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(3 * hooks.DISPATCH_INTERVAL_SECONDS)


def _sent_tasks(expected: set[int], timeout: float = 10) -> list[list[int]]:
    """The id lists of the deliver tasks in the broker naming `expected` ids, until all are named.

    Other tests' dispatches may still come in: their tasks are left out, and their ids are
    dropped from a task that carries some of ours too (the dispatch thread joins whatever waits).
    """
    tasks: list[list[int]] = []
    others: list[object] = []
    deadline = time.monotonic() + timeout
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue("celery")
        while {i for ids in tasks for i in ids} != expected and time.monotonic() < deadline:
            try:
                received = queue.get(timeout=0.2)
            except queue.Empty:
                continue
            args, _kwargs, _embed = received.payload
            deliver = received.headers.get("task") == "agents.mta.tasks.deliver"
            ours = [i for i in args[0] if i in expected] if deliver else []
            if ours:
                assert len(args[0]) <= django_settings.YUBIN_RELAY_BATCH, args[0]
                tasks.append(ours)
            else:
                others.append((received.headers.get("task"), args))
            received.ack()
    assert {i for ids in tasks for i in ids} == expected, f"tasks seen: ours {tasks}, others {others[:20]}"
    return tasks


def test_dispatch_thread_joins_waiting_ids_into_tasks_of_at_most_a_batch(settings):
    """Ids committed together go out in few tasks, none over YUBIN_RELAY_BATCH, each id once."""
    settings.YUBIN_RELAY_BATCH = 4
    ids = list(range(10**9, 10**9 + 10))  # no other test's queue ids
    _dispatch_idle()
    _purge()
    hooks.dispatch_deliver(ids)
    tasks = _sent_tasks(set(ids))
    assert sorted(i for task in tasks for i in task) == ids
    assert all(1 <= len(ids) <= 4 for ids in tasks)
    assert len(tasks) <= 4  # three full ones, or a first id the thread took alone


def test_sweep_sends_due_messages_in_batches_grouped_by_destination(relay_env, settings, monkeypatch):
    """The sweep finds every due message (here: their dispatches lost) and sends them
    YUBIN_RELAY_BATCH per task, the messages of one destination domain next to each other."""
    settings.YUBIN_RELAY_BATCH = 3
    relay_env.dns.zone.update({"other.test": [("MX", "10 mx.remote.test.")]})
    monkeypatch.setattr(queue_services, "_dispatch_hooks", [])  # the enqueues' dispatches are lost
    ids = {
        domain: [relay_env.enqueue(f"u{n}@{domain}", raw=message(to=f"u{n}@{domain}")).pk for n in range(3)]
        for domain in ("remote.test", "other.test")
    }
    OutboundRecipient.objects.update(next_attempt=timezone.now() - timedelta(seconds=1))
    _purge()
    assert relay_sweep() == 6
    tasks = _sent_tasks({*ids["remote.test"], *ids["other.test"]})
    assert sorted(sorted(t) for t in tasks) == sorted([sorted(ids["other.test"]), sorted(ids["remote.test"])])


@pytest.mark.skipif(not django_settings.CELERY_BROKER_URL.startswith("filesystem://"), reason="embedded broker")
def test_embedded_broker_never_leaves_a_partial_message_file():
    """A message file appears under its final name only once written whole; a consumer gets it
    and passes over a file still being written."""
    name = "test-whole-files"  # a queue of its own: the relay's dispatches do not mix in
    folder = django_settings.BROKER_DIR / "out"
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(name)
        queue.clear()
        queue.put({"n": 1})
        assert [p.name.rsplit(".", 2)[1:] for p in folder.iterdir() if name in p.name] == [[name, "msg"]]
        partial = folder / f"_0_half-written.{name}.msg.part"
        partial.write_bytes(b'{"body": ')  # a write in progress
        try:
            assert queue.get(timeout=2).payload == {"n": 1}
            with pytest.raises(queue.Empty):
                queue.get(timeout=0.3)
        finally:
            partial.unlink()
