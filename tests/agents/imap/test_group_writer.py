"""The IMAP server's group writer: store writes queued together share one transaction, each in a
savepoint, and a failing write takes nothing else down."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agents.imap.session import GroupWriter
from store.models import Folder
from store.services import folder_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_queued_writes_commit_together_and_a_failure_stays_alone(make_account):
    """While one write runs, three more queue; they commit as one batch: the two good ones are
    stored and answered, the failing one is rolled back (its folder does not exist) and its
    session gets the error."""
    account = make_account("writer@example.test")
    writer = GroupWriter()
    started = threading.Event()
    release = threading.Event()
    batch_sizes: list[int] = []
    execute = writer._execute

    def counted(jobs):  # type: ignore[no-untyped-def]
        batch_sizes.append(len(jobs))
        return execute(jobs)

    writer._execute = counted  # type: ignore[method-assign]

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
