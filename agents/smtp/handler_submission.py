"""Submission policy (RFC 6409): authenticated senders, their own addresses, any recipient.

AUTH is required (RFC 6409 §4.3) unless POP-before-SMTP is on and this client address logged
in to POP3/IMAP lately; MAIL FROM must be the account's address or an alias leading to it
(store.selectors.directory.account_addresses), else 553 5.7.1.
"""

from __future__ import annotations

from email.utils import formatdate, make_msgid

from asgiref.sync import sync_to_async
from django.conf import settings

from agents.mda.deliver import GroupCommitter
from agents.popbeforesmtp import pbs_allowed
from agents.smtp import codes
from agents.smtp.address import Path
from agents.smtp.handler_common import deliver, local_status, plan_of, trace_fields
from agents.smtp.protocol import Recipient, YubinEnvelope, YubinSession
from agents.smtp.recipients import RecipientCache
from agents.smtp.rejections import rejections
from store.selectors.directory import account_addresses, account_by_address


def _sender_addresses(address: str) -> list[str]:
    account = account_by_address(address)
    return [a.lower() for a in account_addresses(account)] if account is not None else []


class SubmissionHandler:
    name = "submission"
    auth_offered = True

    def __init__(
        self,
        *,
        hostname: str,
        committer: GroupCommitter,
        starttls_required: bool,
        recipients: RecipientCache | None = None,
    ) -> None:
        self.hostname = hostname
        self.committer = committer
        self.recipients = recipients or RecipientCache(settings.YUBIN_SMTP_RECIPIENT_CACHE_SECONDS)
        self.starttls_required = starttls_required

    async def _identity(self, session: YubinSession) -> str:
        if session.account is not None:
            return str(session.account.address)
        pbs = await sync_to_async(pbs_allowed, thread_sensitive=False)(session.client_ip)
        if pbs:
            session.auth_address = pbs
        return pbs or ""

    async def handle_MAIL(self, session: YubinSession, envelope: YubinEnvelope, path: Path) -> str:
        identity = await self._identity(session)
        if not identity:
            return codes.AUTH_REQUIRED
        if path.is_null:
            return codes.NULL_SENDER_SUBMISSION
        owned = await sync_to_async(_sender_addresses, thread_sensitive=False)(identity)
        if path.address.lower() not in owned:
            rejections.note(session, sender=path.address, recipient="", reply=codes.SENDER_NOT_OWNED)
            return codes.SENDER_NOT_OWNED
        return codes.OK_SENDER

    async def handle_RCPT(self, session: YubinSession, envelope: YubinEnvelope, rcpt: Recipient) -> str:
        resolution = await self.recipients.resolve(rcpt.path.address)
        if resolution.local_domain:
            status = local_status(resolution, envelope.declared_size)
        elif rcpt.path.is_literal:
            return codes.ADDRESS_SYNTAX  # the MTA does not deliver to address literals
        else:
            status = codes.OK_RECIPIENT
        if status.startswith("250"):
            rcpt.plan = plan_of(rcpt, resolution)
        return status

    async def handle_DATA(self, session: YubinSession, envelope: YubinEnvelope, content: bytes) -> str:
        received, _queue_id = trace_fields(session, envelope, hostname=self.hostname, tls_version=None)
        added = missing_headers(content, hostname=self.hostname)
        return await deliver(
            self.committer, session, envelope, received + added, content, submitted_by=session.auth_address
        )


def missing_headers(content: bytes, *, hostname: str) -> bytes:
    """The Message-ID and Date fields to put before the content when the client left them out
    (RFC 6409 §8.2, §8.3), as Postfix adds them for authenticated clients: replies, threading
    and message tracking all need a Message-ID."""
    end = content.find(b"\r\n\r\n")
    header = content[: end + 2] if end >= 0 else content
    names = {line.split(b":", 1)[0].strip().lower() for line in header.split(b"\r\n") if line[:1] not in (b" ", b"\t")}
    added = b""
    if b"message-id" not in names:
        added += f"Message-ID: {make_msgid(domain=hostname)}\r\n".encode()
    if b"date" not in names:
        added += f"Date: {formatdate(localtime=False)}\r\n".encode()
    return added
