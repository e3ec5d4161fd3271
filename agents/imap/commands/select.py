"""SELECT / EXAMINE (RFC 3501 §6.3.1-6.3.2) with CONDSTORE and QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5)."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.protocol import response
from agents.imap.protocol.parser import Atom, ascii_digits
from agents.imap.protocol.seqset import SeqSet, select_positions, seqset_format
from agents.imap.registry import AUTH, SELECTED, Request, command
from agents.imap.session import Session
from agents.imap.view import FEEDS, FolderView
from store.models import Flag
from store.selectors.imap import imap_data_version, imap_expunged_since, imap_folder

SYSTEM_FLAGS = " ".join(Flag.ORDER[i] for i in (1, 2, 3, 0, 4))  # Dovecot's order


def _open(account_id: int, name: str, read_only: bool) -> FolderView | None:
    version = imap_data_version()  # before the reads: they are exact at least as of it
    folder = imap_folder(account_id, name)
    if folder is None:
        return None
    feed = FEEDS.load(folder.id, folder, version)
    if feed is None:
        return None
    FEEDS.name_remember(account_id, name, folder, version)
    return FolderView(feed, folder.name, read_only=read_only)


def _qresync_params(options: list) -> tuple[int, int, str | None] | None:
    """(uidvalidity, modseq, known uids) from "QRESYNC (uv modseq [uids [seq-match]])"."""
    if len(options) < 2 or not isinstance(options[1], list):
        raise Bad("QRESYNC needs a parameter list")
    values = options[1]
    if len(values) < 2 or not all(isinstance(v, Atom) and ascii_digits(v) for v in values[:2]):
        raise Bad("QRESYNC needs UIDVALIDITY and MODSEQ")
    known = str(values[2]) if len(values) > 2 and isinstance(values[2], Atom) else None
    return int(values[0]), int(values[1]), known


@command("SELECT", "EXAMINE", states=AUTH)
async def select(session: Session, request: Request) -> str | None:
    raw = request.args.astring()
    qresync = None
    if request.args.more():
        options = request.args.list()
        keyword = str(options[0]).upper() if options else ""
        if keyword == "CONDSTORE" and len(options) == 1:
            session.enabled.add("CONDSTORE")
        elif keyword == "QRESYNC":
            if "QRESYNC" not in session.enabled:
                raise Bad("QRESYNC must be enabled first")
            qresync = _qresync_params(options)
        else:
            raise Bad("Unknown SELECT parameter")
    request.args.end()
    name = session.mailbox_in(raw)
    had_view = session.view is not None
    session.deselect()
    if had_view and ("QRESYNC" in session.enabled or session.rev2):  # RFC 7162 §3.2.11, RFC 9051 §6.3.2
        session.untagged("OK [CLOSED] Previous mailbox closed")
    assert session.account_id is not None
    read_only = request.name == "EXAMINE"
    # Nothing committed to the store since the folder was last read: its view from memory.
    current = FEEDS.current(session.account_id, name)
    if current is not None:
        view: FolderView | None = FolderView(current[0], current[1], read_only=read_only)
    else:
        view = await session.db.run(_open, session.account_id, name, read_only)
    if view is None:
        raise No(response.NO_SUCH_MAILBOX, "NONEXISTENT")
    columns = view.columns
    keywords = sorted({word for words in columns.keywords.values() for word in words})
    flag_list = " ".join([SYSTEM_FLAGS, *keywords])
    session.untagged(f"FLAGS ({flag_list})")
    permanent = "" if read_only else f"{flag_list} \\*"
    session.untagged(f"OK [PERMANENTFLAGS ({permanent})] Flags permitted")
    session.untagged(f"{view.exists} EXISTS")
    await session.recent_claim(view)
    if session.rev2:
        # RFC 9051 §6.3.2: the mailbox's LIST response; RECENT and [UNSEEN] are IMAP4rev1's only.
        session.send(b'* LIST () "/" ' + session.mailbox_out(view.name) + b"\r\n")
    else:
        session.untagged(f"{view.recent_count()} RECENT")
        first_unseen = view.first_unseen()
        if first_unseen:
            session.untagged(f"OK [UNSEEN {first_unseen}] First unseen")
    session.untagged(f"OK [UIDVALIDITY {view.uid_validity}] UIDs valid")
    session.untagged(f"OK [UIDNEXT {view.uid_next}] Predicted next UID")
    session.untagged(f"OK [HIGHESTMODSEQ {view.highest_modseq()}] Highest")
    if qresync is not None and qresync[0] == view.uid_validity:
        await _qresync(session, view, qresync[1], qresync[2])
    session.view = view
    session.state = SELECTED
    session.search_result = []  # RFC 5182 §2.1
    mode = "READ-ONLY" if read_only else "READ-WRITE"
    return f"[{mode}] {request.name} completed"


async def _qresync(session: Session, view: FolderView, since: int, known: str | None) -> None:
    """RFC 7162 §3.2.5.2: VANISHED (EARLIER) then FETCH for everything changed after `since`."""
    vanished = await session.db.run(imap_expunged_since, view.folder_id, since)
    if known is not None:
        ranges = SeqSet.parse(known).resolve(view.uid_next)
        vanished = [uid for uid in vanished if any(low <= uid <= high for low, high in ranges)]
    if vanished:
        session.untagged(f"VANISHED (EARLIER) {seqset_format(vanished)}")
    columns = view.columns
    positions = range(len(columns.uids))
    if known is not None:
        positions = select_positions(columns.uids, SeqSet.parse(known).resolve(view.uid_next))  # type: ignore[assignment]
    for index in positions:
        if columns.modseqs[index] > since:
            uid = columns.uids[index]
            session.send(
                b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n"
                % (
                    index + 1,
                    uid,
                    session.flags_of(view, index),
                    columns.modseqs[index],
                )
            )
