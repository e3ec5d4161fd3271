"""CREATE (RFC 3501 §6.3.3) with USE (RFC 6154 §3) special-use attributes."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.models import Account, SpecialUse
from store.services import folder_create

SPECIAL_USES = {choice.value.lower(): choice.value for choice in SpecialUse if choice.value.startswith("\\")}


def _create(account_id: int, name: str, special_use: str) -> None:
    folder_create(account=Account.objects.get(pk=account_id), name=name, special_use=special_use)


@command("CREATE", states=AUTH)
async def create(session: Session, request: Request) -> str | None:
    raw = request.args.astring()
    special_use = ""
    if request.args.more():
        options = request.args.list()
        if len(options) != 2 or str(options[0]).upper() != "USE" or not isinstance(options[1], list):
            raise Bad("Unknown CREATE parameters")
        uses = [str(item).lower() for item in options[1]]
        if len(uses) > 1 or any(use not in SPECIAL_USES for use in uses):
            raise No("Unsupported special-use attribute", "USEATTR")
        special_use = SPECIAL_USES[uses[0]] if uses else ""
    request.args.end()
    name = session.mailbox_in(raw.rstrip("/"))
    if name == "INBOX":
        raise No("INBOX already exists", "ALREADYEXISTS")
    assert session.account_id is not None
    await session.db.write(_create, session.account_id, name, special_use)
    return None
