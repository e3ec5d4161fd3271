"""THREAD / UID THREAD (RFC 5256 §3): REFERENCES and ORDEREDSUBJECT over the stored thread keys."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.registry import SEL, Request, command
from agents.imap.search import CHARSETS, search_parse
from agents.imap.session import Session
from agents.imap.threading import thread_orderedsubject, thread_references
from store.parse import subject_is_reply
from store.selectors.imap import imap_thread_rows


@command("THREAD", "UID THREAD", states=SEL)
async def thread(session: Session, request: Request) -> str | None:
    from agents.imap.commands.search import evaluate

    view = session.require_view()
    args = request.args
    algorithm = args.atom().upper()
    if algorithm not in ("REFERENCES", "ORDEREDSUBJECT"):
        raise Bad("Unknown threading algorithm")
    if args.astring().upper() not in CHARSETS:
        raise No("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")
    node, _ = search_parse(args)
    columns = view.columns
    wanted = None if node.kind == "all" else {columns.uids[i] for i in await evaluate(session, node)}
    rows = await session.db.run(imap_thread_rows, view.folder_id)
    members = []
    for uid, message_id, in_reply_to, references, base, date_sent, internal_date, subject in rows:
        index = columns.position(uid)
        if index < 0 or (wanted is not None and uid not in wanted):
            continue
        number = uid if request.uid else index + 1
        date = date_sent or internal_date
        members.append((number, message_id, in_reply_to, references or [], base, date, subject_is_reply(subject)))
    if algorithm == "ORDEREDSUBJECT":
        text = thread_orderedsubject([(m[0], m[4], m[5]) for m in members])
    else:
        text = thread_references(members)
    session.untagged("THREAD " + text if text else "THREAD")
    return None


__all__ = ["thread"]
