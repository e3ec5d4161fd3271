"""MX policy (RFC 5321 §3.6, §4.1.1.3): mail for local domains only, verified, never relayed.

RCPT in a local domain that nobody owns gets 550 5.1.1; anything else gets 554 5.7.1. Relay
tricks never reach delivery: source routes are syntax errors (agents.smtp.address), and "%",
"!" and quoted "@" stay part of a local part that matches no account. IP literals and domains
with a trailing dot are not local domains.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from agents.mda.deliver import GroupCommitter
from agents.smtp import codes
from agents.smtp.address import Path
from agents.smtp.authresults import sender_verify
from agents.smtp.handler_common import deliver, local_status, plan_of, trace_fields
from agents.smtp.protocol import Recipient, YubinEnvelope, YubinSession
from agents.smtp.recipients import RecipientCache
from agents.smtp.rejections import envelope_sender, rejections

log = logging.getLogger(__name__)


class MxHandler:
    name = "smtp"
    auth_offered = False
    starttls_required = False

    def __init__(self, *, hostname: str, committer: GroupCommitter, recipients: RecipientCache | None = None) -> None:
        self.hostname = hostname
        self.committer = committer
        self.recipients = recipients or RecipientCache(settings.YUBIN_SMTP_RECIPIENT_CACHE_SECONDS)

    async def handle_MAIL(self, session: YubinSession, envelope: YubinEnvelope, path: Path) -> str:
        return codes.OK_SENDER

    async def handle_RCPT(self, session: YubinSession, envelope: YubinEnvelope, rcpt: Recipient) -> str:
        status = await self._rcpt_status(envelope, rcpt)
        if not status.startswith("250"):
            rejections.note(session, sender=envelope_sender(envelope), recipient=rcpt.path.address, reply=status)
        return status

    async def _rcpt_status(self, envelope: YubinEnvelope, rcpt: Recipient) -> str:
        if rcpt.path.is_literal:
            return codes.RELAY_DENIED
        resolution = await self.recipients.resolve(rcpt.path.address)
        if not resolution.local_domain:
            return codes.RELAY_DENIED
        status = local_status(resolution, envelope.declared_size)
        if status.startswith("250"):
            rcpt.plan = plan_of(rcpt, resolution)
        return status

    async def handle_DATA(self, session: YubinSession, envelope: YubinEnvelope, content: bytes) -> str:
        received, _queue_id = trace_fields(session, envelope, hostname=self.hostname, tls_version=None)
        prefix = received
        verdicts: dict[str, str] = {}
        if settings.YUBIN_SMTP_VERIFY_SENDER:
            verification = await sync_to_async(sender_verify, thread_sensitive=False)(
                raw=content,
                client_ip=session.client_ip or "",
                helo=session.host_name or "",
                mail_from=envelope.sender.address if envelope.sender else "",
                authserv_id=self.hostname,
            )
            if verification.dmarc_reject and settings.YUBIN_SMTP_DMARC_REJECT:
                for rcpt in envelope.recipients:
                    rejections.note(
                        session, sender=envelope_sender(envelope), recipient=rcpt.path.address, reply=codes.DMARC_REJECT
                    )
                return codes.DMARC_REJECT
            prefix = verification.header.encode("utf-8") + b"\r\n" + received
            verdicts = {"spf": verification.spf, "dkim": verification.dkim, "dmarc": verification.dmarc}
        return await deliver(self.committer, session, envelope, prefix, content, verdicts=verdicts)
