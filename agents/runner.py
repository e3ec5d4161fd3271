"""The agents process: one asyncio loop serving SMTP, IMAP, POP3 and ManageSieve.

Each protocol package has a `server` module with

    async def listeners_start(*, host: str) -> list[Listener]

which binds its configured ports and returns what it started. The runner starts every protocol
that is installed, starts the store's change listener (so IDLE hears other processes' changes),
and stops everything on SIGINT or SIGTERM.

`agents_run` runs YUBIN_AGENTS_PROCESSES of these (one per CPU by default): the first forks the
others before any thread or database connection exists, and every one binds the same ports with
SO_REUSEPORT, so the kernel spreads the connections over them and all cores work (one Python
process uses one core at a time). With one process per CPU each is pinned to its CPU and takes
the connections that CPU receives (agents.eventloop; YUBIN_AGENTS_CPU_AFFINITY). What a session
needs from the others goes through the store (change events for IDLE, maildrop locks, the
delivery transactions) or the Django cache (the auth throttle); per-process state is listed in
docs/notes/smtp.md. The first process also runs the search indexer (one is enough), watches the
others, and stops them all when it stops or when one of them dies.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from agents import addresscounts, eventloop
from agents.addresscounts import AddressCounts
from agents.eventloop import event_loop_new, event_loop_shared_ports
from agents.searchindexer import SearchIndexer
from agents.tls import certificate_ensure
from store.changes import change_listener_start
from store.services.search_index import search_index_deferred

log = logging.getLogger(__name__)

PROTOCOL_SERVER_MODULES = (
    "agents.smtp.server",
    "agents.imap.server",
    "agents.pop3.server",
    "agents.managesieve.server",
)
WATCH_INTERVAL_SECONDS = 0.5
CHILD_STOP_SECONDS = 20  # pending deliveries finish first (agents.batchthread)


@dataclass
class Listener:
    name: str  # e.g. "imap", "imaps", "submission"
    host: str
    port: int
    server: asyncio.AbstractServer | object

    def describe(self) -> str:
        return f"{self.name:<12} {self.host}:{self.port}"


def _installed(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # the parent package is not there either
        return False


async def listeners_start_all(*, host: str) -> list[Listener]:
    started: list[Listener] = []
    for module_name in PROTOCOL_SERVER_MODULES:
        if not _installed(module_name):
            continue
        module = importlib.import_module(module_name)
        started.extend(await module.listeners_start(host=host))
    return started


async def _close(listeners: list[Listener]) -> None:
    for listener in listeners:
        close = getattr(listener.server, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        wait_closed = getattr(listener.server, "wait_closed", None)
        if wait_closed is not None:
            try:
                await asyncio.wait_for(wait_closed(), timeout=5)
            except (TimeoutError, Exception):
                log.debug("listener %s did not close in time", listener.name)


def agents_processes() -> int:
    """How many agents processes to run: YUBIN_AGENTS_PROCESSES, or one per CPU when 0."""
    configured = int(settings.YUBIN_AGENTS_PROCESSES)
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpus_to_pin(processes: int) -> list[int]:
    """The CPUs to pin the processes to, one each, or none: only with YUBIN_AGENTS_CPU_AFFINITY
    on and exactly one process per CPU this process may run on."""
    if not settings.YUBIN_AGENTS_CPU_AFFINITY:
        return []
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return []
    return cpus if len(cpus) == processes else []


def _cpu_pin(cpus: list[int], index: int) -> None:
    """Pin this process, and every thread it starts from now on, to its CPU; its listeners then
    take the connections that CPU receives (agents.eventloop). Before any thread starts."""
    if not cpus:
        return
    try:
        os.sched_setaffinity(0, {cpus[index]})
    except OSError:
        log.warning("agents process %d could not be pinned to CPU %d", index, cpus[index])
        return
    eventloop.listen_cpu = cpus[index]


async def agents_main(*, index: int = 0, children: list[int] | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or, with children, until one of them dies); the exit status."""
    if index == 0:
        certificate_ensure()
    change_listener_start()
    indexer = SearchIndexer() if index == 0 and search_index_deferred() else None
    if indexer is not None:
        indexer.start()
    listeners = await listeners_start_all(host=settings.YUBIN_BIND)
    if index == 0:
        for listener in listeners:
            print(f"agents: listening  {listener.describe()}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    status = 0
    parent = os.getppid()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), WATCH_INTERVAL_SECONDS)
        except TimeoutError:
            pass
        if stop.is_set():
            break
        if index > 0 and os.getppid() != parent:
            log.error("agents %d: the first agents process is gone; stopping", index)
            break
        if children and _children_exited(children):
            status = 1
            break
    if index == 0:
        print("agents: stopping", flush=True)
    await _close(listeners)
    if indexer is not None:
        indexer.stop()
    return status


def _children_exited(children: list[int]) -> bool:
    for pid in children:
        try:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, wait_status = pid, 0
        if done:
            children.remove(pid)
            print(f"agents: process {pid} exited ({wait_status}); stopping the others", flush=True)
            return True
    return False


def _children_stop(children: list[int]) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + CHILD_STOP_SECONDS
    for pid in children:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def agents_run() -> int:
    """Run the agents: YUBIN_AGENTS_PROCESSES processes sharing the ports; the exit status."""
    processes = agents_processes()
    if processes <= 1:
        with asyncio.Runner(loop_factory=event_loop_new) as runner:
            return runner.run(agents_main())
    certificate_ensure()  # once, before the processes would race to make it
    addresscounts.shared_address_counts = AddressCounts()  # per-address session limits of all of them
    # Fork before any thread or connection exists: a child inherits neither half-used.
    connections.close_all()
    # What is loaded by now (Django, the apps, the protocol modules) stays shared between the
    # processes: the cyclic collector no longer walks those objects, whose headers it writes
    # to, which would copy every page of that heap into each process (copy-on-write).
    gc.collect()
    gc.freeze()
    cpus = _cpus_to_pin(processes)
    children: list[int] = []
    for index in range(1, processes):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _cpu_pin(cpus, index)
                with asyncio.Runner(loop_factory=event_loop_shared_ports) as runner:
                    status = runner.run(agents_main(index=index))
            except BaseException:
                log.exception("agents process %d failed", index)
            finally:
                sys.stdout.flush()
                os._exit(status)
        children.append(pid)
    print(f"agents: {processes} processes sharing the ports", flush=True)
    _cpu_pin(cpus, 0)
    try:
        with asyncio.Runner(loop_factory=event_loop_shared_ports) as runner:
            return runner.run(agents_main(index=0, children=children))
    finally:
        _children_stop(children)
