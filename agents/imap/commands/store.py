"""STORE / UID STORE (RFC 3501 §6.4.6) with UNCHANGEDSINCE and MODIFIED (RFC 7162 §3.1.3)."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.parser_helpers import flags_parse
from agents.imap.protocol import response
from agents.imap.protocol.parser import ascii_digits
from agents.imap.protocol.seqset import seqset_format
from agents.imap.registry import SEL, Request, command
from agents.imap.session import Session
from agents.imap.view import FEEDS, Columns
from store.selectors.imap import imap_data_version
from store.services import FlagsResult, flags_change, flags_set

MODES = {"FLAGS": "set", "+FLAGS": "add", "-FLAGS": "remove"}


@command("STORE", "UID STORE", states=SEL)
async def store(session: Session, request: Request) -> str | None:
    view = session.require_view()
    args = request.args
    positions = session.resolve_set(args.atom(), uid=request.uid)
    unchanged_since = None
    if isinstance(args.peek(), list):
        modifiers = args.list()
        if len(modifiers) != 2 or str(modifiers[0]).upper() != "UNCHANGEDSINCE" or not ascii_digits(str(modifiers[1])):
            raise Bad("Unknown STORE modifier")
        unchanged_since = int(str(modifiers[1]))
        session.condstore_enable()
    item = args.atom().upper()
    silent = item.endswith(".SILENT")
    mode = MODES.get(item.removesuffix(".SILENT"))
    if mode is None:
        raise Bad("Unknown STORE item")
    token = args.next()
    bits, keywords = flags_parse(token if isinstance(token, list) else [token, *args.tokens[args.index :]])
    if not isinstance(token, list):
        args.index = len(args.tokens)
    args.end()
    if view.read_only:
        raise No(response.READ_ONLY, "READ-ONLY")
    columns = view.columns
    uids = [columns.uids[i] for i in positions if columns.uids[i] not in view.pending_expunge]
    if not uids:
        return None
    if unchanged_since is None and await _changes_nothing(session, view.folder_id, uids, mode, bits, set(keywords)):
        result = FlagsResult(modseq=0, changed=[], failed_uids=[])  # what flags_set would answer
    else:
        result = await session.db.write_state(
            lambda: flags_set(
                folder_id=view.folder_id,
                uids=uids,
                mode=mode,
                flags=bits,
                keywords=keywords,
                unchanged_since=unchanged_since,
            )
        )
    changed = {message.uid: message for message in result.changed}
    for uid, message in changed.items():
        index = columns.position(uid)
        if index >= 0:
            columns.flags[index] = message.flags
            columns.modseqs[index] = message.modseq
            if message.keywords:
                columns.keywords[uid] = tuple(message.keywords)
            else:
                columns.keywords.pop(uid, None)
    # Once CONDSTORE is on, every FETCH a STORE causes carries UID and MODSEQ, and .SILENT still
    # tells the new MODSEQ of each message it changed (RFC 7162 §3.1, §3.1.3), as Dovecot does.
    condstore = session.condstore
    for uid in uids:
        index = columns.position(uid)
        if index < 0 or uid in result.failed_uids:
            continue
        if silent:
            if condstore and uid in changed:
                session.send(b"* %d FETCH (UID %d MODSEQ (%d))\r\n" % (index + 1, uid, columns.modseqs[index]))
            continue
        line = b"* %d FETCH (" % (index + 1)
        if request.uid or condstore:
            line += b"UID %d " % uid
        line += b"FLAGS " + session.flags_of(view, index)
        if condstore:
            line += b" MODSEQ (%d)" % columns.modseqs[index]
        session.send(line + b")\r\n")
    if result.failed_uids:
        if request.uid:
            failed = seqset_format(result.failed_uids)
        else:
            failed = seqset_format(columns.position(uid) + 1 for uid in result.failed_uids)
        return f"[MODIFIED {failed}] Conditional STORE failed"
    return None


async def _changes_nothing(
    session: Session, folder_id: int, uids: list[int], mode: str, bits: int, keywords: set[str]
) -> bool:
    """True when the STORE is known to change no message, so it need not queue for the writer
    (setting \\Seen on mail already read is common). The process's copy of the folder must show
    the result on every one of the messages already, as of a moment after the command came: as
    last read when nothing was committed to the store since (SQLite's data version), else once
    it has read the changes since (a read, where the write would queue behind the others)."""
    feed = FEEDS.get(folder_id)
    if feed is None or not _already(feed.columns, uids, mode, bits, keywords):
        return False
    if feed.version is not None and imap_data_version() == feed.version:
        return True
    return await session.db.run(lambda: FEEDS.advance(feed) and _already(feed.columns, uids, mode, bits, keywords))


def _already(columns: Columns, uids: list[int], mode: str, bits: int, keywords: set[str]) -> bool:
    for uid in uids:
        index = columns.position(uid)
        if index < 0:
            return False
        if flags_change(columns.flags[index], columns.keywords.get(uid, ()), mode, bits, keywords) is not None:
            return False
    return True
