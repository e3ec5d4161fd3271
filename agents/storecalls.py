"""Store, auth and cache calls of protocol sessions (POP3, ManageSieve), run on a small thread pool.

The event loop never waits on the ORM (STYLE rule 4); a fixed pool bounds how many database
connections these servers hold per process, whatever the number of sessions. A thread's
connection is reused while Django's CONN_MAX_AGE allows and replaced when it went bad.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections

STORE_THREADS = 8  # logins hash passwords (Argon2) here too; Dovecot's auth-worker default is 30 processes

Result = TypeVar("Result")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="agents-store")
        return _executor


def _run(function: Callable[..., Result], arguments: dict[str, Any]) -> Result:
    close_old_connections()
    return function(**arguments)


async def store_call(function: Callable[..., Result], /, **arguments: Any) -> Result:
    """Run function(**arguments) on the store pool and wait for it without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(_run, function, arguments))


def store_threads_stop() -> None:
    """Close every pool thread's database connections and stop the pool (a new one starts on demand)."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    barrier = threading.Barrier(STORE_THREADS, timeout=10)

    def close_here() -> None:
        connections.close_all()
        try:
            barrier.wait()  # one task per thread: no thread takes two while another takes none
        except threading.BrokenBarrierError:
            pass

    for future in [executor.submit(close_here) for _ in range(STORE_THREADS)]:
        future.result()
    executor.shutdown(wait=True)
