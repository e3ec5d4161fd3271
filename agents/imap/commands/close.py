"""CLOSE (RFC 3501 §6.4.2: expunge silently unless read-only) and UNSELECT (RFC 3691)."""

from __future__ import annotations

from agents.imap.registry import SEL, Request, command
from agents.imap.session import Session
from store.services import messages_expunge


@command("CLOSE", "UNSELECT", states=SEL)
async def close(session: Session, request: Request) -> str | None:
    request.args.end()
    view = session.require_view()
    if request.name == "CLOSE" and not view.read_only:
        await session.db.write_state(lambda: messages_expunge(folder_id=view.folder_id))
    session.deselect()
    if "QRESYNC" in session.enabled:
        session.untagged("OK [CLOSED] Mailbox closed")
    return None
