"""NOOP (RFC 3501 §6.1.2) and CHECK (§6.4.1): both just let pending updates through."""

from __future__ import annotations

from agents.imap.registry import ANY, SEL, Request, command
from agents.imap.session import Session


@command("NOOP", states=ANY)
async def noop(session: Session, request: Request) -> str | None:
    request.args.end()
    return None


@command("CHECK", states=SEL)
async def check(session: Session, request: Request) -> str | None:
    request.args.end()
    return None
