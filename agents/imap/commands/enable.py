"""ENABLE (RFC 5161) for CONDSTORE, QRESYNC (RFC 7162), UTF8=ACCEPT (RFC 6855), IMAP4rev2 (RFC 9051)."""

from __future__ import annotations

from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session

ENABLEABLE = {"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"}


@command("ENABLE", states=AUTH)
async def enable(session: Session, request: Request) -> str | None:
    newly: list[str] = []
    names = [request.args.atom().upper()]
    while request.args.more():
        names.append(request.args.atom().upper())
    for name in names:
        if name in ENABLEABLE and name not in session.enabled:
            session.enabled.add(name)
            newly.append("IMAP4rev2" if name == "IMAP4REV2" else name)
            if name == "QRESYNC":
                session.enabled.add("CONDSTORE")
    session.untagged("ENABLED" + "".join(" " + name for name in newly))
    return None
