"""COPY / UID COPY (RFC 3501 §6.4.7) with COPYUID (RFC 4315), MOVE / UID MOVE (RFC 6851)."""

from __future__ import annotations

from agents.imap.errors import No
from agents.imap.protocol import response
from agents.imap.protocol.seqset import seqset_format_pairs
from agents.imap.registry import SEL, Request, command
from agents.imap.session import Session
from store.selectors.imap import imap_folder
from store.services import messages_copy, messages_move


@command("COPY", "UID COPY", "MOVE", "UID MOVE", states=SEL)
async def copy(session: Session, request: Request) -> str | None:
    view = session.require_view()
    positions = session.resolve_set(request.args.atom(), uid=request.uid)
    target_name = session.mailbox_in(request.args.astring())
    request.args.end()
    move = request.name.endswith("MOVE")
    if move and view.read_only:
        raise No(response.READ_ONLY, "READ-ONLY")
    assert session.account_id is not None
    target = await session.db.run(imap_folder, session.account_id, target_name)
    if target is None:
        raise No(response.NO_SUCH_MAILBOX, "TRYCREATE")
    uids = [view.columns.uids[i] for i in positions]
    if not uids:
        return None
    service = messages_move if move else messages_copy
    result = await session.db.write(lambda: service(folder_id=view.folder_id, uids=uids, target_folder_id=target.id))
    code = ""
    if result.uid_map:
        sources = seqset_format_pairs([pair[0] for pair in result.uid_map])
        targets = seqset_format_pairs([pair[1] for pair in result.uid_map])
        code = f"COPYUID {result.uid_validity} {sources} {targets}"
    if move:
        # RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        if code:
            session.untagged(f"OK [{code}] Moved")
        view.pending_expunge.update(src for src, _ in result.uid_map)
        session.send_updates(view, await session.view_update(), allow_expunge=True)
        return None
    return f"[{code}] COPY completed" if code else None
