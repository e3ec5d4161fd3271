"""SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6-6.3.7)."""

from __future__ import annotations

from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.errors import NotFound
from store.models import Account
from store.services import folder_subscribe


def _subscribe(account_id: int, name: str, subscribed: bool) -> None:
    try:
        folder_subscribe(account=Account.objects.get(pk=account_id), name=name, subscribed=subscribed)
    except NotFound:
        if subscribed:
            raise


@command("SUBSCRIBE", "UNSUBSCRIBE", states=AUTH)
async def subscribe(session: Session, request: Request) -> str | None:
    name = session.mailbox_in(request.args.astring())
    request.args.end()
    assert session.account_id is not None
    await session.db.write(_subscribe, session.account_id, name, request.name == "SUBSCRIBE")
    return None
