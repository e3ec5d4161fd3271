"""LOGIN (RFC 3501 §6.2.3): refused before TLS (LOGINDISABLED) unless loopback plaintext is allowed."""

from __future__ import annotations

from agents.auth import Throttled, credentials_check
from agents.imap.errors import No
from agents.imap.protocol import response
from agents.imap.registry import NOAUTH, Request, command
from agents.imap.session import Session


async def password_login(session: Session, address: str, password: str) -> str:
    """Check credentials through the one auth path; become authenticated; the OK text."""
    try:
        account = await session.db.run(
            credentials_check, address=address, password=password, protocol="imap", client_ip=session.conn.peer_ip
        )
    except Throttled:
        raise No(response.AUTH_THROTTLED, "UNAVAILABLE") from None
    if account is None:
        raise No(response.AUTH_FAILED, "AUTHENTICATIONFAILED")
    await session.authenticated(account.pk, account.address)
    return f"[CAPABILITY {session.capabilities()}] Logged in"


@command("LOGIN", states=NOAUTH)
async def login(session: Session, request: Request) -> str | None:
    address = request.args.astring()
    password = request.args.astring()
    request.args.end()
    if not session.plaintext_allowed():
        raise No(response.LOGIN_DISABLED, "PRIVACYREQUIRED")
    return await password_login(session, address, password)
