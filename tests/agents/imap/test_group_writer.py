"""The IMAP server's group writer: store writes queued together share one transaction, each in a
savepoint, and a failing write takes nothing else down."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading

import pytest
from django.db import connection

from agents.imap.session import GroupWriter
from store.models import Folder
from store.services import folder_create
from store.writelock import database_write_lock

pytestmark = pytest.mark.django_db(transaction=True)


def _batch_sizes(writer: GroupWriter) -> list[int]:
    """The sizes of the batches the writer runs from now on, in order."""
    sizes: list[int] = []
    execute = writer._execute

    def counted(jobs):  # type: ignore[no-untyped-def]
        sizes.append(len(jobs))
        return execute(jobs)

    writer._execute = counted  # type: ignore[method-assign]
    return sizes


def test_queued_writes_commit_together_and_a_failure_stays_alone(make_account):
    """While one write runs, three more queue; they commit as one batch: the two good ones are
    stored and answered, the failing one is rolled back (its folder does not exist) and its
    session gets the error."""
    account = make_account("writer@example.test")
    writer = GroupWriter()
    started = threading.Event()
    release = threading.Event()
    batch_sizes = _batch_sizes(writer)

    def blocker() -> str:
        started.set()
        release.wait(10)
        return "first"

    def create(name: str) -> str:
        return folder_create(account=account, name=name).name

    def failing() -> None:
        folder_create(account=account, name="Broken")
        raise ValueError("refused after writing")

    async def main() -> list[object]:
        first = asyncio.ensure_future(writer.run(blocker))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        rest = [
            asyncio.ensure_future(writer.run(lambda: create("Alpha"))),
            asyncio.ensure_future(writer.run(failing)),
            asyncio.ensure_future(writer.run(lambda: create("Beta"))),
        ]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        writer.stop()
    assert results[0] == "first"
    assert results[1] == "Alpha" and results[3] == "Beta"
    assert isinstance(results[2], ValueError)
    assert batch_sizes == [1, 3]
    names = set(Folder.objects.filter(account=account).values_list("name", flat=True))
    assert {"Alpha", "Beta"} <= names
    assert "Broken" not in names


@pytest.mark.skipif(not connection.vendor == "sqlite", reason="SQLite's write lock")
def test_writer_waits_for_another_process_holding_the_write_lock(make_account):
    """On SQLite the writer takes the database's write lock (a flock shared by every agents
    process): while another process holds it, a write waits, and it is stored once it is freed.
    A write that itself takes the lock again (as store calls may) does not deadlock."""
    account = make_account("locked@example.test")
    writer = GroupWriter()
    holder = os.open(str(connection.settings_dict["NAME"]) + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: as another process would hold it

    def create() -> str:
        return folder_create(account=account, name="Waited").name

    def create_locking() -> str:
        with database_write_lock():  # taken again inside the writer's own hold
            return folder_create(account=account, name="Again").name

    async def main() -> list[str]:
        write = asyncio.ensure_future(writer.run(create))
        await asyncio.sleep(0.3)
        assert not write.done()  # held up by the other holder
        fcntl.flock(holder, fcntl.LOCK_UN)
        return [await asyncio.wait_for(write, 10), await asyncio.wait_for(writer.run(create_locking), 10)]

    try:
        assert asyncio.run(main()) == ["Waited", "Again"]
    finally:
        writer.stop()
        os.close(holder)
    assert set(Folder.objects.filter(account=account).values_list("name", flat=True)) >= {"Waited", "Again"}


def _commit_mode() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous")
            return {0: "off", 1: "normal", 2: "full", 3: "extra"}[cursor.fetchone()[0]]
        cursor.execute("SHOW synchronous_commit")
        return {"on": "full", "off": "normal"}.get(cursor.fetchone()[0], "?")


@pytest.mark.parametrize(("setting", "state_only"), [("optimized", "normal"), ("always", "full")])
def test_state_writes_commit_without_waiting_for_the_flush_unless_always(settings, monkeypatch, setting, state_only):
    """Like Dovecot's mail_fsync=optimized: a batch of flag changes, expunges and claims commits
    without waiting for the disk; a batch holding any other write (mail) waits, also right after
    one that did not. YUBIN_IMAP_FSYNC=always waits for every batch. On SQLite a batch that
    waits commits without the flush and flushes the log after releasing the write lock, before
    its callers are answered."""
    import agents.imap.session as session_module
    from store import writelock

    settings.YUBIN_IMAP_FSYNC = setting
    flushes: list[bool] = []  # per flush: whether the write lock was still held
    flush = session_module.commit_flush

    def recorded() -> None:
        flushes.append(getattr(writelock._held, "holding", False))
        flush()

    monkeypatch.setattr(session_module, "commit_flush", recorded)
    writer = GroupWriter()
    started = threading.Event()
    release = threading.Event()

    def blocker() -> str:
        started.set()
        release.wait(10)
        return _commit_mode()

    async def main() -> list[object]:
        alone = await writer.run(_commit_mode, flush=False)
        first = asyncio.ensure_future(writer.run(blocker))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        mixed = [  # queued together behind the blocker: one batch
            asyncio.ensure_future(writer.run(_commit_mode, flush=False)),
            asyncio.ensure_future(writer.run(_commit_mode)),
        ]
        await asyncio.sleep(0.05)
        release.set()
        after = await asyncio.gather(first, *mixed)
        return [alone, *after, await writer.run(_commit_mode)]

    try:
        results = asyncio.run(main())
    finally:
        writer.stop()
    if connection.vendor == "sqlite":  # durable by the flush after the lock
        assert results == ["normal"] * 5
        assert flushes == [False] * (3 if state_only == "normal" else 4)
    else:
        assert results == [state_only, "full", "full", "full", "full"] and not flushes


@pytest.mark.skipif(not connection.vendor == "sqlite", reason="SQLite's write lock")
def test_writes_queued_while_the_lock_is_awaited_join_the_batch(make_account):
    """The writer takes its batch once it holds the database's write lock: writes that arrive
    while another process holds it are committed together with the first, in one transaction."""
    account = make_account("joined@example.test")
    writer = GroupWriter()
    batch_sizes = _batch_sizes(writer)
    holder = os.open(str(connection.settings_dict["NAME"]) + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def create(name: str) -> str:
        return folder_create(account=account, name=name).name

    async def main() -> list[str]:
        first = asyncio.ensure_future(writer.run(lambda: create("One")))
        await asyncio.sleep(0.2)  # the writer is waiting for the lock by now
        later = [asyncio.ensure_future(writer.run(lambda name=name: create(name))) for name in ("Two", "Three")]
        await asyncio.sleep(0.1)
        fcntl.flock(holder, fcntl.LOCK_UN)
        return list(await asyncio.wait_for(asyncio.gather(first, *later), 10))

    try:
        assert asyncio.run(main()) == ["One", "Two", "Three"]
    finally:
        writer.stop()
        os.close(holder)
    assert batch_sizes == [3]
    assert {"One", "Two", "Three"} <= set(Folder.objects.filter(account=account).values_list("name", flat=True))
