"""NAMESPACE (RFC 2342): one personal namespace, "/" separated, no others."""

from __future__ import annotations

from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session


@command("NAMESPACE", states=AUTH)
async def namespace(session: Session, request: Request) -> str | None:
    request.args.end()
    session.untagged('NAMESPACE (("" "/")) NIL NIL')
    return None
