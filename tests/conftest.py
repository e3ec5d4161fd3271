"""Shared fixtures: accounts in a real database, free loopback ports, servers on threads."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct horse battery staple"


# Listening ports for test servers come from below Linux's ephemeral range (32768-60999), so an
# outgoing connection can never take a port between free_port() and the server's bind; each
# xdist worker draws from its own slice, and no port is handed out twice in one process.
_PORT_RANGE_START, _PORT_RANGE_END = 20000, 32000
_ports_given: set[int] = set()


def _port_slice() -> range:
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    width = (_PORT_RANGE_END - _PORT_RANGE_START) // count
    start = _PORT_RANGE_START + (index % count) * width
    return range(start, start + width)


def free_port(host: str = "127.0.0.1") -> int:
    import random

    candidates = list(_port_slice())
    random.shuffle(candidates)
    for port in candidates:
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port left for test servers")


def cache_clear() -> None:
    """Empty this test process's part of Django's cache (throttle counts, locks, caches).

    On Redis every pytest worker shares one database: cache.clear() would flush it, wiping another
    worker's counts in the middle of its test, so only keys under this worker's prefix go."""
    from django.core.cache import cache

    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None or not cache.key_prefix:
        cache.clear()  # the file cache: a directory of this process's own
        return
    client = client_of(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def make_account(transactional_db: None) -> Callable[..., Any]:
    """make_account("taro@example.test") creates the domain when needed and the account."""
    from store.models import Domain
    from store.services import account_create, domain_create

    def make(address: str, password: str = PASSWORD, **options: Any) -> Any:
        domain_name = address.rsplit("@", 1)[1]
        if not Domain.objects.filter(name=domain_name).exists():
            domain_create(name=domain_name)
        return account_create(address=address, password=password, **options)

    return make


EXECUTOR_THREADS = 8


def _close_connections_on_every_thread(executor: ThreadPoolExecutor, threads: int) -> None:
    """Close the Django database connections that the executor's threads opened.

    A barrier makes each thread take exactly one of the close calls; without this, every test's
    server threads would keep a PostgreSQL connection open until the server's client limit.
    """
    from django.db import connections

    barrier = threading.Barrier(threads, timeout=10)

    def close() -> None:
        connections.close_all()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass

    for future in [executor.submit(close) for _ in range(threads)]:
        future.result(timeout=15)


class LoopThread:
    """An asyncio event loop on its own thread, for running real servers inside a test."""

    def __init__(self) -> None:
        from agents.eventloop import event_loop_new

        self.loop = event_loop_new()  # the agents' kind (YUBIN_EVENT_LOOP)
        self.executor = ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="test-db")
        self.loop.set_default_executor(self.executor)
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            _close_connections_on_every_thread(self.executor, EXECUTOR_THREADS)
            self.executor.shutdown(wait=True)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.stop()


def in_forked_child(check: Callable[[], bool]) -> bool:
    """What check() returns when run in a child forked from this process (False if it raises)."""
    import os

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            status = 0 if check() else 1
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    try:
        return os.read(read, 1) == b"\x00"
    finally:
        os.close(read)
        os.waitpid(child, 0)


def database_url_of_test_db() -> str:
    """DATABASE_URL naming the database this test runs on, for subprocesses the test starts."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or "root"
    host = config.get("HOST") or "127.0.0.1"
    port = config.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{config['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db: None) -> Iterator[dict[str, str]]:
    """Environment for a child process that must see this test's database and data dir."""
    import os

    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "yubin.settings_test"
    env["YUBIN_DATA_DIR"] = str(settings.DATA_DIR)
    env["YUBIN_BLOB_DIR"] = str(settings.YUBIN_BLOB_DIR)
    env["DATABASE_URL"] = database_url_of_test_db()
    yield env
    wait_for_orphaned_sessions()


def wait_for_orphaned_sessions(timeout: float = 30.0) -> None:
    """Wait until no other PostgreSQL session of the test database is inside a statement or a
    transaction. A child killed with SIGKILL leaves its server session running the statement it
    had sent, holding its transaction's locks until the server notices the client is gone; the
    flush after the test would otherwise meet those locks (a deadlock, or a wait)."""
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


# --- Browser tests: one headless Chromium (Debian's) per test process, driven by Playwright ---

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """Keep each phase's report on the test item, so a browser fixture knows when to screenshot."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A Chromium for one test. Playwright's sync API runs an asyncio loop on this thread while it
    lives, so Django's async-safety check (which looks for a running loop) is off for that test
    only; every other test keeps it."""
    import os

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def screenshot_on_failure(page: Any, request: Any) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        except Exception:  # the page may already be gone
            pass


@pytest.fixture(autouse=True)
def _blob_cache_cleared() -> None:
    """Each test starts with an empty blob cache: what one test read must not answer the next."""
    from store import blobs

    blobs._RECENT.clear()


@pytest.fixture(scope="session", autouse=True)
def _close_server_threads_connections(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Before the test database is dropped, end the PostgreSQL sessions that server threads of
    the tests still hold (listener and pool threads are daemons and never close their own)."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Remove this test process's throw-away data directory (yubin/settings_test.py) at the end."""
    import shutil
    import tempfile

    from django.conf import settings

    data_dir = Path(settings.DATA_DIR)
    if data_dir.parent == Path(tempfile.gettempdir()) and data_dir.name.startswith("yubin-test-"):
        shutil.rmtree(data_dir, ignore_errors=True)
