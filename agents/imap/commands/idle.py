"""IDLE (RFC 2177): stream EXISTS / EXPUNGE / FETCH as changes arrive, until DONE.

Changes come from store.changes (in this process at once; from other processes through the
change listener); the view is refreshed only when an event names the selected folder.
"""

from __future__ import annotations

import asyncio
import contextlib

from agents.imap import limits
from agents.imap.connection import LineTooLong
from agents.imap.errors import Bad, Bye
from agents.imap.protocol import response
from agents.imap.registry import AUTH, REPLIED, SELECTED, Request, command
from agents.imap.session import Session


@command("IDLE", states=AUTH)
async def idle(session: Session, request: Request) -> str | None:
    request.args.end()
    if session.state == SELECTED:
        # The changes already announced by events; one committed elsewhere and not yet announced
        # arrives as an event while idling (within the change listener's interval), so the
        # store need not be read here.
        await session.announce(allow_expunge=True)
    session.send(f"+ {response.IDLE_WAIT}\r\n".encode())
    await session.conn.flush()
    reader = asyncio.ensure_future(session.conn.readline(limits.MAX_LINE_LENGTH))
    deadline = asyncio.get_running_loop().time() + limits.AUTOLOGOUT_SECONDS
    try:
        while True:
            waiter = asyncio.ensure_future(session.changes.get()) if session.changes is not None else None
            waiting = {reader} | ({waiter} if waiter else set())
            timeout = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait(waiting, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED)
            if waiter is not None and waiter not in done:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
            if not done:
                raise Bye(response.IDLE_TIMEOUT)
            if reader in done:
                break
            assert waiter is not None
            change = waiter.result()
            if session.view is not None and change.folder_id == session.view.folder_id:
                assert session.changes is not None  # the waiter came from it
                session.changes.put_nowait(change)  # announce reads it with any that followed
                await session.announce(allow_expunge=True)
                await session.conn.flush()
    finally:
        if not reader.done():
            reader.cancel()
    try:
        line = reader.result()
    except LineTooLong:
        raise Bad("Expected DONE") from None
    if line.strip().upper() != b"DONE":
        raise Bad("Expected DONE")
    if session.state == SELECTED:
        await session.announce(allow_expunge=True)
    session.send(f"{request.tag} OK IDLE terminated\r\n".encode())
    return REPLIED
