"""AUTHENTICATE (RFC 3501 §6.2.2) with SASL-IR (RFC 4959): PLAIN (RFC 4616), OAUTHBEARER (RFC 7628).

OAUTHBEARER carries the short-lived tokens the web app issues for the webmail; XOAUTH2 is the
same token in Google's framing, accepted for clients that only speak that.
"""

from __future__ import annotations

import base64
import binascii

from agents.auth import Throttled, token_check
from agents.imap.commands.login import password_login
from agents.imap.errors import Bad, No
from agents.imap.protocol import response
from agents.imap.registry import NOAUTH, Request, command
from agents.imap.session import Session


async def _client_response(session: Session, initial: str | None) -> bytes:
    if initial is None:
        session.send(b"+ \r\n")
        await session.conn.flush()
        line = (await session.readline()).rstrip(b"\r\n")
    else:
        line = initial.encode()
    if line == b"*":
        raise Bad(response.AUTH_CANCELLED)
    if line == b"=":
        return b""
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise Bad("Invalid base64 in SASL response") from None


@command("AUTHENTICATE", states=NOAUTH)
async def authenticate(session: Session, request: Request) -> str | None:
    mechanism = request.args.atom().upper()
    initial = request.args.astring() if request.args.more() else None
    request.args.end()
    if not session.plaintext_allowed():
        raise No(response.LOGIN_DISABLED, "PRIVACYREQUIRED")
    if mechanism == "PLAIN":
        data = await _client_response(session, initial)
        pieces = data.split(b"\0")
        if len(pieces) != 3:
            raise Bad("Malformed PLAIN response")
        authzid, authcid, password = (piece.decode("utf-8", "replace") for piece in pieces)
        if authzid and authzid.lower() != authcid.lower():
            raise No("Proxy authorization is not supported", "AUTHORIZATIONFAILED")
        return await password_login(session, authcid, password)
    if mechanism in ("OAUTHBEARER", "XOAUTH2"):
        data = await _client_response(session, initial)
        address, token = _bearer_fields(data, mechanism)
        try:
            account = await session.db.run(
                token_check, token=token, address=address, protocol="imap", client_ip=session.conn.peer_ip
            )
        except Throttled:
            raise No(response.AUTH_THROTTLED, "UNAVAILABLE") from None
        if account is None:
            if mechanism == "OAUTHBEARER":  # RFC 7628 §3.2.2: an error challenge, then the client sends ^A
                error = base64.b64encode(b'{"status":"invalid_token"}').decode()
                session.send(f"+ {error}\r\n".encode())
                await session.conn.flush()
                await session.readline()
            raise No(response.AUTH_FAILED, "AUTHENTICATIONFAILED")
        await session.authenticated(account.pk, account.address)
        return f"[CAPABILITY {session.capabilities()}] Logged in"
    raise No("Unsupported authentication mechanism", "CANNOT")


def _bearer_fields(data: bytes, mechanism: str) -> tuple[str | None, str]:
    text = data.decode("utf-8", "replace")
    address: str | None = None
    token = ""
    if mechanism == "OAUTHBEARER":
        header, _, rest = text.partition("\x01")
        for attribute in header.split(","):
            if attribute.startswith("a="):
                address = attribute[2:].replace("=2C", ",").replace("=3D", "=")
        fields = rest.split("\x01")
    else:
        fields = text.split("\x01")
    for field in fields:
        key, _, value = field.partition("=")
        if key == "user":
            address = value
        if key == "auth" and value[:7].lower() == "bearer ":
            token = value[7:].strip()
    if not token:
        raise Bad("Malformed bearer token response")
    return address, token
