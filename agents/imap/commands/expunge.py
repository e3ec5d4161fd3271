"""EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1)."""

from __future__ import annotations

from agents.imap.errors import No
from agents.imap.protocol import response
from agents.imap.registry import SEL, Request, command
from agents.imap.session import Session
from store.services import messages_expunge


@command("EXPUNGE", "UID EXPUNGE", states=SEL)
async def expunge(session: Session, request: Request) -> str | None:
    view = session.require_view()
    uids = None
    if request.uid:
        positions = session.resolve_set(request.args.atom(), uid=True)
        uids = [view.columns.uids[i] for i in positions]
    request.args.end()
    if view.read_only:
        raise No(response.READ_ONLY, "READ-ONLY")
    if uids is not None and not uids:
        return None
    removed = await session.db.write_state(lambda: messages_expunge(folder_id=view.folder_id, uids=uids))
    view.pending_expunge.update(removed)
    # The commit's change event is queued before the write's result arrives: the refresh needs
    # no forced read of the store.
    session.send_updates(view, await session.view_update(), allow_expunge=True)
    return f"[HIGHESTMODSEQ {view.highest_modseq()}] Expunge completed" if session.condstore else None
