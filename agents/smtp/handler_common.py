"""What the MX and submission handlers share: recipient resolution, quota, the DATA path."""

from __future__ import annotations

from django.conf import settings

from agents.mda.deliver import DeliveryJob, GroupCommitter, RecipientPlan
from agents.smtp import codes
from agents.smtp.protocol import Recipient, YubinEnvelope, YubinSession
from agents.smtp.trace import protocol_name, received_header
from store.blobs import wire_facts_checked_body
from store.selectors.smtp import RecipientResolution

ALIAS_LOOP = "550 5.4.6 Alias expansion loop for this recipient"


def quota_reply() -> str:
    return codes.QUOTA_PERMANENT if settings.YUBIN_QUOTA_PERMANENT else codes.QUOTA_TEMPORARY


def local_status(resolution: RecipientResolution, declared_size: int) -> str:
    """RCPT reply for a recipient in a local domain (RFC 5321 §4.2.2 codes)."""
    if not resolution.found:
        return ALIAS_LOOP if resolution.loop else codes.NO_SUCH_USER
    # Quota at RCPT: refuse only when every local account is full, so one full member of an
    # alias does not block the others (RFC 5321 §4.5.3.1.10 style per-recipient answer).
    if resolution.accounts and not resolution.remote:
        full = [a for a in resolution.accounts if a.quota and a.used_bytes + declared_size > a.quota]
        if len(full) == len(resolution.accounts):
            return quota_reply()
    return codes.OK_RECIPIENT


def plan_of(rcpt: Recipient, resolution: RecipientResolution) -> RecipientPlan:
    return RecipientPlan(
        address=rcpt.path.address,
        accounts=list(resolution.accounts),
        remote=list(resolution.remote),
        notify=rcpt.notify,
        orcpt=rcpt.orcpt,
    )


def trace_fields(
    session: YubinSession, envelope: YubinEnvelope, *, hostname: str, tls_version: str | None
) -> tuple[bytes, str]:
    protocol = protocol_name(
        extended=session.extended_smtp,
        tls=session.tls,
        authenticated=session.account is not None,
        utf8=envelope.smtp_utf8,
    )
    single = envelope.recipients[0].path.address if len(envelope.recipients) == 1 else None
    return received_header(
        helo=session.host_name or "",
        client_ip=session.client_ip,
        hostname=hostname,
        protocol=protocol,
        recipient=single,
        tls_version=tls_version,
    )


async def deliver(
    committer: GroupCommitter,
    session: YubinSession,
    envelope: YubinEnvelope,
    head: bytes,
    content: bytes,
    submitted_by: str = "",
    verdicts: dict[str, str] | None = None,
) -> str:
    """Hand the message (the trace fields etc. in `head`, then the client's content as the DATA
    reader checked it) to the delivery thread and give the reply to the end of DATA."""
    raw = head + content
    job = DeliveryJob(
        raw=raw,
        wire=wire_facts_checked_body(raw, len(head), envelope.content_dots),
        sender=envelope.sender.address if envelope.sender else "",
        recipients=[r.plan for r in envelope.recipients],
        smtputf8=envelope.smtp_utf8,
        body_8bit=envelope.body_8bit,
        dsn_ret=envelope.dsn_ret,
        dsn_envid=envelope.dsn_envid,
        submitted_by=submitted_by,
        client_ip=session.client_ip,
        tls=session.tls,
        helo=session.host_name or "",
        verdicts=verdicts or {},
    )
    outcome = await committer.deliver(job)
    if outcome.ok:
        return codes.OK_QUEUED.format(message_id=outcome.message_id and f"<{outcome.message_id}>")
    if outcome.quota:
        return quota_reply()
    return codes.LOCAL_ERROR
