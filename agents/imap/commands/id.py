"""ID (RFC 2971): remember what the client says; answer with the server's name."""

from __future__ import annotations

from agents.imap.errors import Bad
from agents.imap.parser_helpers import nil_or_list, string_token
from agents.imap.protocol.parser import Atom
from agents.imap.registry import ANY, Request, command
from agents.imap.session import Session

MAX_ID_FIELDS = 30  # RFC 2971 §3.3


@command("ID", states=ANY)
async def id_(session: Session, request: Request) -> str | None:
    items = nil_or_list(request.args)
    request.args.end()
    if items:
        if len(items) % 2 or len(items) > 2 * MAX_ID_FIELDS:
            raise Bad("ID takes up to 30 field/value pairs")
        for key, value in zip(items[::2], items[1::2], strict=True):
            is_nil = isinstance(value, Atom) and value.upper() == "NIL"
            session.client_id[string_token(key)[:30]] = "" if is_nil else string_token(value)[:1024]
    session.untagged('ID ("name" "Yubin" "vendor" "Yubin")')
    return None
