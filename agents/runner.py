"""The agents process: one asyncio loop serving SMTP, IMAP, POP3 and ManageSieve.

Each protocol package has a `server` module with

    async def listeners_start(*, host: str) -> list[Listener]

which binds its configured ports and returns what it started. The runner starts every protocol
that is installed, starts the store's change listener (so IDLE hears other processes' changes),
and stops everything on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import signal
from dataclasses import dataclass

from django.conf import settings

from agents.tls import certificate_ensure
from store.changes import change_listener_start

log = logging.getLogger(__name__)

PROTOCOL_SERVER_MODULES = (
    "agents.smtp.server",
    "agents.imap.server",
    "agents.pop3.server",
    "agents.managesieve.server",
)


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


async def agents_main() -> None:
    certificate_ensure()
    change_listener_start()
    listeners = await listeners_start_all(host=settings.YUBIN_BIND)
    for listener in listeners:
        print(f"agents: listening  {listener.describe()}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("agents: stopping", flush=True)
    await _close(listeners)
