"""LOGOUT (RFC 3501 §6.1.3)."""

from __future__ import annotations

from agents.imap.protocol import response
from agents.imap.registry import ANY, LOGOUT, Request, command
from agents.imap.session import Session


@command("LOGOUT", states=ANY)
async def logout(session: Session, request: Request) -> str | None:
    request.args.end()
    session.untagged(f"BYE {response.LOGOUT}")
    session.view = None
    session.state = LOGOUT
    return None
