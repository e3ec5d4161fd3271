"""DELETE (RFC 3501 §6.3.4): INBOX cannot go; deleting the selected folder ends its selection."""

from __future__ import annotations

from agents.imap.errors import No
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.models import Account
from store.services import folder_delete


def _delete(account_id: int, name: str) -> None:
    folder_delete(account=Account.objects.get(pk=account_id), name=name)


@command("DELETE", states=AUTH)
async def delete(session: Session, request: Request) -> str | None:
    name = session.mailbox_in(request.args.astring())
    request.args.end()
    if name == "INBOX":
        raise No("INBOX cannot be deleted", "CANNOT")
    assert session.account_id is not None
    if session.view is not None and session.view.name == name:
        session.deselect()
    await session.db.write(_delete, session.account_id, name)
    return None
