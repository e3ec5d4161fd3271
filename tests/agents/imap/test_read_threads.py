"""The IMAP server's read threads: quick reads share one thread; a slow read does not hold up
the others, and errors reach the caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agents.imap.session import ReadThreads


def test_quick_reads_take_one_thread_and_a_slow_one_does_not_block_the_rest():
    async def scenario() -> None:
        pool = ReadThreads(4)
        pool.GROW_AFTER_SECONDS = 0.5  # far above a quick read even on a loaded machine
        names = await asyncio.gather(*(pool.run(lambda: threading.current_thread().name) for _ in range(50)))
        assert set(names) == {"imap-db-0"}  # fifty quick reads at once, one thread

        release = threading.Event()
        slow = asyncio.ensure_future(pool.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)  # the slow read holds the only thread
        started = time.monotonic()
        assert await pool.run(lambda: 42) == 42  # answered by a thread started for it
        assert time.monotonic() - started < 5
        assert not slow.done()
        release.set()
        assert await slow is True

        def broken() -> None:
            raise ValueError("no such row")

        with pytest.raises(ValueError, match="no such row"):
            await pool.run(broken)
        pool.shutdown()

    asyncio.run(scenario())
