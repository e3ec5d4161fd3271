"""STATUS (RFC 3501 §6.3.10; HIGHESTMODSEQ RFC 7162, SIZE RFC 8438, DELETED RFC 9051) from folder counters."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.protocol import response
from agents.imap.protocol.parser import Token
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from agents.imap.view import RECENT_CLAIMED
from store.models import Flag, Message
from store.selectors.imap import FolderRow, imap_folder, imap_recent_count

STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED")


def status_items(tokens: list[Token]) -> list[str]:
    items = [str(token).upper() for token in tokens]
    if not items or any(item not in STATUS_ITEMS for item in items):
        raise Bad("Unknown STATUS item")
    return items


def deleted_count(folder_id: int) -> int:
    return Message.objects.filter(folder_id=folder_id).extra(where=["flags & %s != 0"], params=[Flag.DELETED]).count()


COUNTED_ITEMS = frozenset({"DELETED", "RECENT"})  # answered by a query, not from the folder row


def status_counts(folder: FolderRow, items: list[str]) -> dict[str, int]:
    """DELETED and RECENT when asked for (call in a DB thread)."""
    counts = {}
    if "DELETED" in items:
        counts["DELETED"] = deleted_count(folder.id)
    if "RECENT" in items:
        # Claims of this process may still be on their way to the store.
        recent_from = max(folder.recent_uid, RECENT_CLAIMED.get(folder.id, 0))
        counts["RECENT"] = imap_recent_count(folder.id, recent_from) if recent_from < folder.uid_next else 0
    return counts


def status_line(session: Session, folder: FolderRow, items: list[str], counts: dict[str, int]) -> str:
    values = {
        "MESSAGES": folder.message_count,
        "RECENT": counts.get("RECENT", 0),
        "UIDNEXT": folder.uid_next,
        "UIDVALIDITY": folder.uid_validity,
        "UNSEEN": folder.unseen_count,
        "HIGHESTMODSEQ": folder.highest_modseq,
        "SIZE": folder.total_bytes,
        "DELETED": counts.get("DELETED", 0),
    }
    pairs = " ".join(f"{item} {values[item]}" for item in items)
    return "STATUS " + session.mailbox_out(folder.name).decode("utf-8", "surrogateescape") + f" ({pairs})"


def _status(account_id: int, name: str, items: list[str]) -> tuple[FolderRow, dict[str, int]] | None:
    folder = imap_folder(account_id, name)
    if folder is None:
        return None
    return folder, status_counts(folder, items)


@command("STATUS", states=AUTH)
async def status(session: Session, request: Request) -> str | None:
    name = session.mailbox_in(request.args.astring())
    items = status_items(request.args.list())
    request.args.end()
    if "HIGHESTMODSEQ" in items:
        session.condstore_enable()  # RFC 7162 §3.1
    assert session.account_id is not None
    found = await session.db.run(_status, session.account_id, name, items)
    if found is None:
        raise No(response.NO_SUCH_MAILBOX, "NONEXISTENT")
    session.untagged(status_line(session, found[0], items, found[1]))
    return None
