"""Change events: every store change is announced to IMAP IDLE sessions on any process or host.

A service records a ChangeEvent row inside its transaction (`change_record`). After commit the
change is published to subscribers in this process at once; other processes learn of it from a
listener thread that reads new rows: on PostgreSQL it wakes on LISTEN/NOTIFY (the NOTIFY is sent
by the same transaction), on SQLite it polls cheaply by primary key (DESIGN rule 3).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from store.models import ChangeEvent
from store.sql import Cursor, driver_cursor

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "yubin_changes"
POLL_INTERVAL_SECONDS = 0.2
RETENTION_SECONDS = 3600


@dataclass(frozen=True)
class Change:
    id: int
    account_id: int
    folder_id: int | None
    kind: str
    modseq: int


Subscriber = Callable[[Change], None]

_subscribers: set[Subscriber] = set()
_subscribers_lock = threading.Lock()
_seen_ids: set[int] = set()
_listener: ChangeListener | None = None


def change_record(*, account_id: int, folder_id: int | None, kind: str, modseq: int = 0) -> None:
    """Record a change inside the caller's transaction; it is published once that commits."""
    changes_record([(account_id, folder_id, kind, modseq)])


_INSERT_HEAD = f"INSERT INTO {ChangeEvent._meta.db_table} (account_id, folder_id, kind, modseq, created) VALUES"
# The last part of PostgreSQL's statement: one NOTIFY for the rows added, whose ids it returns.
_NOTIFIED = "notified AS (SELECT pg_notify(%s, max(id)::text) FROM added) SELECT added.id FROM added, notified"


def changes_record(changes: list[tuple[int, int | None, str, int]], *, cursor: Cursor | None = None) -> None:
    """Record many (account_id, folder_id, kind, modseq) changes in the caller's transaction, with one
    NOTIFY on PostgreSQL; they are published here once that commits. cursor: a driver_cursor of
    the caller's, inside that transaction."""
    if not changes:
        return
    with nullcontext(cursor) if cursor is not None else driver_cursor() as used:
        changes_send(changes, cursor=used)()


def changes_send(changes: list[tuple[int, int | None, str, int]], *, cursor: Cursor) -> Callable[[], None]:
    """changes_record in two steps: the INSERT is sent on `cursor` now, and the function returned
    reads the new rows' ids and has the changes published at commit. On PostgreSQL, in a pipeline,
    call it after the pipeline's sync: reading them inside cost a round trip of its own."""
    if not changes:
        return lambda: None
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of django.db.connection looks it up
    if not db.features.can_return_columns_from_insert:
        published = []
        for account_id, folder_id, kind, modseq in changes:
            row = ChangeEvent.objects.create(account_id=account_id, folder_id=folder_id, kind=kind, modseq=modseq)
            published.append(Change(row.pk, account_id, folder_id, kind, modseq))
        return lambda: _publish_at_commit(published)
    # One INSERT ... RETURNING for all (a batch has one change per folder). On PostgreSQL the same
    # statement sends the NOTIFY (delivered at commit): a statement of its own was one more round
    # trip to the server per batch.
    created = db.ops.adapt_datetimefield_value(timezone.now())
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(changes))
    params: list[object] = [value for change in changes for value in (*change, created)]
    if db.vendor == "postgresql":
        cursor.execute(f"WITH added AS ({_INSERT_HEAD} {values} RETURNING id), {_NOTIFIED}", [*params, NOTIFY_CHANNEL])
    else:
        cursor.execute(f"{_INSERT_HEAD} {values} RETURNING id", params)

    def read() -> None:
        # The ids follow the rows' order (each row takes the next one of the sequence); the
        # order of RETURNING's answer is not promised, so they are sorted.
        ids = sorted(int(row[0]) for row in cursor.fetchall())
        if len(ids) != len(changes):
            raise RuntimeError(f"the database returned {len(ids)} ids for {len(changes)} change rows")
        _publish_at_commit([Change(pk, *change) for pk, change in zip(ids, changes, strict=True)])

    return read


def _publish_at_commit(published: list[Change]) -> None:
    def publish_all() -> None:
        for change in published:
            _publish(change)

    transaction.on_commit(publish_all)


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call callback(change) for every change (from any thread); returns an unsubscribe function."""
    with _subscribers_lock:
        _subscribers.add(callback)

    def unsubscribe() -> None:
        with _subscribers_lock:
            _subscribers.discard(callback)

    return unsubscribe


class _LoopHub:
    """The asyncio subscribers of one event loop, fed through one subscription: changes that
    arrive while a hand-over to the loop is pending join it, so a commit wakes the loop once,
    not once per change and session."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queues: dict[int, set[asyncio.Queue[Change]]] = {}  # account id -> queues (loop only)
        self.accounts: frozenset[int] = frozenset()  # read from any thread
        self._pending: list[Change] = []
        self._lock = threading.Lock()
        self.unsubscribe = subscribe(self.deliver)

    def deliver(self, change: Change) -> None:  # any thread
        if change.account_id not in self.accounts:
            return
        with self._lock:
            self._pending.append(change)
            if len(self._pending) > 1:
                return  # the hand-over already scheduled takes it along
        try:
            self.loop.call_soon_threadsafe(self._hand_over)
        except RuntimeError:  # the loop is closed
            pass

    def _hand_over(self) -> None:  # on the loop
        with self._lock:
            pending, self._pending = self._pending, []
        for change in pending:
            for queue in self.queues.get(change.account_id, ()):
                queue.put_nowait(change)

    def add(self, account_id: int, queue: asyncio.Queue[Change]) -> None:
        self.queues.setdefault(account_id, set()).add(queue)
        self.accounts = frozenset(self.queues)

    def remove(self, account_id: int, queue: asyncio.Queue[Change]) -> None:
        queues = self.queues.get(account_id)
        if queues is None:
            return
        queues.discard(queue)
        if not queues:
            del self.queues[account_id]
            self.accounts = frozenset(self.queues)
        if not self.queues:
            self.unsubscribe()
            _hubs.pop(self.loop, None)


_hubs: dict[asyncio.AbstractEventLoop, _LoopHub] = {}


def subscribe_async(
    loop: asyncio.AbstractEventLoop, account_id: int
) -> tuple[asyncio.Queue[Change], Callable[[], None]]:
    """An asyncio queue that receives the changes of one account; and its unsubscribe function.
    Call on the loop's own thread."""
    queue: asyncio.Queue[Change] = asyncio.Queue()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _LoopHub(loop)
    hub.add(account_id, queue)
    return queue, lambda: hub.remove(account_id, queue)


def _publish(change: Change) -> None:
    with _subscribers_lock:
        if change.id in _seen_ids:
            return
        _seen_ids.add(change.id)
        if len(_seen_ids) > 100_000:
            _seen_ids.clear()
        callbacks = list(_subscribers)
    for callback in callbacks:
        try:
            callback(change)
        except Exception:  # a broken subscriber must not stop the others
            log.exception("change subscriber failed")


_READ_NEW = (
    f"SELECT id, account_id, folder_id, kind, modseq FROM {ChangeEvent._meta.db_table} "  # noqa: S608
    "WHERE id > %s ORDER BY id LIMIT 1000"
)


class ChangeListener(threading.Thread):
    """Reads change rows written by other processes and publishes them here."""

    def __init__(self) -> None:
        super().__init__(name="store-change-listener", daemon=True)
        self._stop_event = threading.Event()
        self.last_id = 0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from django.db import close_old_connections

        try:
            self.last_id = ChangeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        except Exception:
            log.exception("change listener could not start")
        while not self._stop_event.is_set():
            try:
                if connection.vendor == "postgresql":
                    self._listen_postgresql()
                else:
                    self._poll_forever()
            except Exception:
                log.exception("change listener error; retrying")
                close_old_connections()
                time.sleep(1)
        connection.close()

    def _read_new(self) -> None:
        # A plain statement: on PostgreSQL this runs after every commit's notification, and the
        # ORM's query building (some 250 µs of Python holding the GIL) delayed the event loop's
        # next reply by as much (an SMTP session's QUIT after its message: 343 against 28 µs).
        with driver_cursor() as cursor:
            cursor.execute(_READ_NEW, [self.last_id])
            rows = cursor.fetchall()
        for row in rows:
            self.last_id = row[0]
            _publish(Change(*row))

    def _poll_forever(self) -> None:
        last_prune = time.monotonic()
        while not self._stop_event.is_set():
            self._read_new()
            if time.monotonic() - last_prune > 60:
                change_prune()
                last_prune = time.monotonic()
            self._stop_event.wait(POLL_INTERVAL_SECONDS)

    def _listen_postgresql(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as listen_conn:
            listen_conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            last_prune = time.monotonic()
            while not self._stop_event.is_set():
                self._read_new()
                # notifies() returns after the timeout even when nothing arrived, so a lost
                # notification costs at most one poll interval.
                for _ in listen_conn.notifies(timeout=1.0, stop_after=1):
                    pass
                if time.monotonic() - last_prune > 60:
                    change_prune()
                    last_prune = time.monotonic()


def change_listener_start() -> ChangeListener:
    """Start (once per process) the thread that brings other processes' changes here."""
    global _listener
    if _listener is None or not _listener.is_alive():
        _listener = ChangeListener()
        _listener.start()
    return _listener


def change_prune() -> int:
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=RETENTION_SECONDS)
    deleted, _ = ChangeEvent.objects.filter(created__lt=cutoff).delete()
    return deleted
