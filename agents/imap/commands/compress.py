"""COMPRESS DEFLATE (RFC 4978): raw deflate both ways from the byte after the tagged OK."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.registry import AUTH, REPLIED, Request, command
from agents.imap.session import Session


@command("COMPRESS", states=AUTH)
async def compress(session: Session, request: Request) -> str | None:
    mechanism = request.args.atom().upper()
    request.args.end()
    if mechanism != "DEFLATE":
        raise Bad("Unknown compression mechanism")
    if session.compressed:
        raise No("Compression is already active", "COMPRESSIONACTIVE")
    session.send(f"{request.tag} OK DEFLATE active\r\n".encode())
    await session.conn.flush()
    session.conn.start_compression()
    session.compressed = True
    return REPLIED
