"""CAPABILITY (RFC 3501 §6.1.1)."""

from __future__ import annotations

from agents.imap.registry import ANY, Request, command
from agents.imap.session import Session


@command("CAPABILITY", states=ANY)
async def capability(session: Session, request: Request) -> str | None:
    request.args.end()
    session.untagged(f"CAPABILITY {session.capabilities()}")
    return None
