"""GETQUOTA / GETQUOTAROOT / SETQUOTA (RFC 9208): one root "" per account, STORAGE in KiB."""

from __future__ import annotations

from agents.imap.errors import No
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.selectors.imap import imap_folder, imap_quota


def _quota_line(used: int, quota: int) -> str | None:
    if not quota:
        return None
    return f'QUOTA "" (STORAGE {used // 1024} {quota // 1024})'


@command("GETQUOTA", states=AUTH)
async def getquota(session: Session, request: Request) -> str | None:
    root = request.args.astring()
    request.args.end()
    if root != "":
        raise No("No such quota root", "NONEXISTENT")
    assert session.account_id is not None
    used, quota = await session.db.run(imap_quota, session.account_id)
    line = _quota_line(used, quota)
    session.untagged(line or 'QUOTA "" ()')
    return None


@command("GETQUOTAROOT", states=AUTH)
async def getquotaroot(session: Session, request: Request) -> str | None:
    raw = request.args.astring()
    request.args.end()
    name = session.mailbox_in(raw)
    assert session.account_id is not None
    if await session.db.run(imap_folder, session.account_id, name) is None:
        raise No("Mailbox does not exist", "NONEXISTENT")
    used, quota = await session.db.run(imap_quota, session.account_id)
    session.send(b"* QUOTAROOT " + session.mailbox_out(name) + (b' ""' if quota else b"") + b"\r\n")
    line = _quota_line(used, quota)
    if line:
        session.untagged(line)
    return None


@command("SETQUOTA", states=AUTH)
async def setquota(session: Session, request: Request) -> str | None:
    raise No("Quotas are set by the administrator", "NOPERM")
