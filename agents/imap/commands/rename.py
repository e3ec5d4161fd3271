"""RENAME (RFC 3501 §6.3.5): children follow; renaming INBOX moves its messages."""

from __future__ import annotations

from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.models import Account
from store.services import folder_rename


def _rename(account_id: int, old: str, new: str) -> None:
    folder_rename(account=Account.objects.get(pk=account_id), old_name=old, new_name=new)


@command("RENAME", states=AUTH)
async def rename(session: Session, request: Request) -> str | None:
    old = session.mailbox_in(request.args.astring())
    new = session.mailbox_in(request.args.astring())
    request.args.end()
    assert session.account_id is not None
    await session.db.write(_rename, session.account_id, old, new)
    return None
