"""One thread that runs queued jobs in batches for asyncio callers: the group commit of the agents.

Sessions on the event loop hand it jobs and await their outcomes. While one batch runs (and
commits), the next one collects, so the batch size follows the load with no added latency when
idle. The SMTP delivery thread (agents.mda.deliver) and the IMAP store writer
(agents.imap.session) are both this, each with its own way of running a batch.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

from django.db import connection

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")


class BatchThread(Generic[Job, Outcome]):
    """Subclasses define run_batch(jobs) -> outcomes (one per job, in order), on the thread."""

    def __init__(self, *, name: str, batch_max: int) -> None:
        self.name = name
        self.batch_max = batch_max
        self._pending: list[tuple[Job, asyncio.AbstractEventLoop, asyncio.Future[Outcome]]] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def run_batch(self, jobs: list[Job]) -> list[Outcome]:
        raise NotImplementedError

    def batch_guard(self) -> AbstractContextManager[object]:
        """Entered once jobs are waiting, before the batch is taken, and held while it runs: a
        subclass whose batches wait for a shared lock returns that lock here, so the jobs that
        arrive while it waits for the lock go into the batch instead of waiting for the next."""
        return nullcontext()

    def after_batch(self, jobs: list[Job], outcomes: list[Outcome]) -> list[Outcome]:
        """Called on the thread after batch_guard is left, before the callers get the outcomes
        (which it may replace): work that must precede the replies but not hold the guard."""
        return outcomes

    def finished(self) -> None:
        """Called on the thread when it ends, after its database connection is closed."""

    def start(self) -> None:
        with self._condition:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    async def submit(self, job: Job) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        with self._condition:
            if self._stopping:
                raise RuntimeError(f"{self.name} stopped")
            self._start_locked()
            self._pending.append((job, loop, future))
            self._condition.notify()
        return await future

    def stop(self, *, wait: bool = True) -> None:
        """Finish the queued jobs, then end the thread (and close its connection)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
            thread = self._thread
        if wait and thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while True:
                with self._condition:
                    while not self._pending and not self._stopping:
                        self._condition.wait()
                    if not self._pending:
                        return
                with self.batch_guard():
                    with self._condition:
                        batch = self._pending[: self.batch_max]
                        del self._pending[: self.batch_max]
                    outcomes = self.run_batch([job for job, _, _ in batch])
                outcomes = self.after_batch([job for job, _, _ in batch], outcomes)
                # One hand-over per event loop for the whole batch: each wakes the loop (a write
                # to its self-pipe), which costs more than settling the futures.
                settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Outcome]]] = {}
                for (_, loop, future), outcome in zip(batch, outcomes, strict=True):
                    settled.setdefault(loop, []).append((future, outcome))
                for loop, pairs in settled.items():
                    try:
                        loop.call_soon_threadsafe(_settle, pairs)
                    except RuntimeError:  # the caller's loop is closed
                        pass
        finally:
            connection.close()
            self.finished()


def _settle(pairs: list[tuple[asyncio.Future[Outcome], Outcome]]) -> None:
    for future, outcome in pairs:
        if not future.done():
            future.set_result(outcome)
