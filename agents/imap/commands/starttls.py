"""STARTTLS (RFC 3501 §6.2.1): reply, then the TLS handshake; the client asks CAPABILITY again."""

from __future__ import annotations

from agents.imap.errors import Bad
from agents.imap.protocol import response
from agents.imap.registry import NOAUTH, REPLIED, Request, command
from agents.imap.session import Session


@command("STARTTLS", states=NOAUTH)
async def starttls(session: Session, request: Request) -> str | None:
    request.args.end()
    if session.conn.tls:
        raise Bad(response.TLS_ACTIVE)
    if session.compressed:
        raise Bad("STARTTLS after COMPRESS is not allowed")
    session.send(f"{request.tag} OK {response.TLS_GO}\r\n".encode())
    await session.conn.start_tls(session.server.context())
    return REPLIED
