"""Delivery status notifications (RFC 3464, RFC 3461 §6) for the envelope sender.

Failure reports, delay warnings, "relayed" reports and, for NOTIFY=SUCCESS on a local delivery
(agents.mda.deliver), "delivered" / "expanded" reports are multipart/report messages with a
human-readable part, a message/delivery-status part (one block per recipient) and the original
message (RET=FULL, the default up to DSN_FULL_LIMIT bytes) or its headers (RET=HDRS, delay
warnings, larger originals). A message from the null sender never gets a report (RFC 5321 §4.5.5:
no bounce loops). A local sender gets the report in its INBOX at once; a remote one through the queue.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.utils import timezone

from store.models import Alias, OutboundMessage
from store.selectors.directory import account_by_address, domain_is_local
from store.services.log import log_record
from store.services.messages import DeliveryTarget, message_deliver
from store.services.queue import QueueRecipient, queue_enqueue

log = logging.getLogger(__name__)

DSN_FULL_LIMIT = 50_000  # Postfix bounce_size_limit: larger originals come back as headers only
_ENHANCED = re.compile(r"^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Notice:
    """One recipient's line in a report. reply: the remote server's, when there was one (then
    also the Diagnostic-Code); text: what the human-readable part says otherwise; action: the
    recipient's Action when it is not the report's own (an alias "expanded" in a delivered one)."""

    address: str
    reply: str
    host: str = ""
    orcpt: str = ""
    text: str = ""
    action: str = ""


@dataclass(frozen=True)
class ReportEnvelope:
    """What a report needs of the message it is about."""

    sender: str  # the envelope sender: the report goes there
    arrival: datetime
    envid: str = ""  # DSN ENVID of the submission
    ret: str = ""  # DSN RET of the submission
    queue_id: int | None = None  # the outbound row, for the delivery log

    @classmethod
    def of(cls, outbound: OutboundMessage) -> ReportEnvelope:
        return cls(outbound.sender, outbound.created, outbound.dsn_envid, outbound.dsn_ret, outbound.pk)


ACTIONS = {"failure": "failed", "delay": "delayed", "relayed": "relayed", "delivered": "delivered"}
SUBJECTS = {
    "failure": "Undelivered Mail Returned to Sender",
    "delay": "Delayed Mail (still being retried)",
    "relayed": "Successful Mail Delivery Report",
    "delivered": "Successful Mail Delivery Report",
}
EXPLANATIONS = {
    "failure": "I'm sorry to have to inform you that your message could not\r\n"
    "be delivered to one or more recipients. The reasons are below.",
    "delay": "Your message could not be delivered for {hours} hours.\r\n"
    "It will be retried until it is {days} days old.",
    "relayed": "Your message was successfully delivered to the destination(s)\r\n"
    "listed below. The remote server does not send its own notifications.",
    "delivered": "Your message was successfully delivered to the destination(s)\r\nlisted below.",
}


def status_code(reply: str, kind: str) -> str:
    """The RFC 3463 status: the reply's enhanced code, else one derived from the reply code."""
    match = _ENHANCED.match(reply)
    if match:
        return match.group(1)
    if kind in ("relayed", "delivered"):
        return "2.0.0"
    return "5.0.0" if reply[:1] == "5" or kind == "failure" else "4.0.0"


def notify_allows(notify: str, kind: str) -> bool:
    """RFC 3461 §4.1: NEVER silences; no NOTIFY means failures and delays are reported."""
    words = {w.strip().upper() for w in notify.split(",") if w.strip()}
    if not words:
        return kind in ("failure", "delay")
    return {"failure": "FAILURE", "delay": "DELAY", "relayed": "SUCCESS", "delivered": "SUCCESS"}[kind] in words


_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")


def _xtext_decoded(value: str) -> str:
    """ENVID and ORCPT come as xtext (RFC 3461 §4); a report shows what they stand for, as
    Postfix does ("+2B" is "+"). A byte that would break the report's line stays encoded."""

    def plain(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if 32 <= ord(char) < 127 else match.group(0)

    return _XTEXT_HEX.sub(plain, value)


def _headers_of(original: bytes) -> bytes:
    end = original.find(b"\r\n\r\n")
    return original[: end + 2] if end >= 0 else original


def dsn_compose(
    *, envelope: ReportEnvelope, notices: list[Notice], kind: str, original: bytes, now: datetime | None = None
) -> bytes:
    """The complete report message, CRLF line endings."""
    now = now or timezone.now()
    hostname = settings.YUBIN_HOSTNAME
    boundary = f"{secrets.token_hex(12)}/{hostname}"
    explanation = EXPLANATIONS[kind].format(
        hours=round(settings.YUBIN_RELAY_DELAY_WARNING / 3600, 1), days=round(settings.YUBIN_RELAY_LIFETIME / 86400, 1)
    )
    human = [f"This is the mail system at host {hostname}.", "", explanation, ""]
    for notice in notices:
        human.append(f"<{notice.address}>: {notice.reply or notice.text}")
    per_message = [f"Reporting-MTA: dns; {hostname}"]
    if envelope.envid:
        per_message.append(f"Original-Envelope-Id: {_xtext_decoded(envelope.envid)}")
    per_message.append(f"Arrival-Date: {format_datetime(envelope.arrival)}")
    blocks = ["\r\n".join(per_message)]
    for notice in notices:
        fields = []
        if notice.orcpt:
            address_type, _, address = notice.orcpt.partition(";")
            fields.append(f"Original-Recipient: {address_type};{_xtext_decoded(address)}")
        fields += [
            f"Final-Recipient: rfc822; {notice.address}",
            f"Action: {notice.action or ACTIONS[kind]}",
            f"Status: {status_code(notice.reply, kind)}",
        ]
        if notice.host:
            fields.append(f"Remote-MTA: dns; {notice.host}")
        if notice.reply:
            fields.append(f"Diagnostic-Code: smtp; {notice.reply}")
        fields.append(f"Last-Attempt-Date: {format_datetime(now)}")
        if kind == "delay":
            until = envelope.arrival + timedelta(seconds=settings.YUBIN_RELAY_LIFETIME)
            fields.append(f"Will-Retry-Until: {format_datetime(until)}")
        blocks.append("\r\n".join(fields))
    full = kind == "failure" and envelope.ret.upper() != "HDRS" and len(original) <= DSN_FULL_LIMIT
    if full:
        attached_type, attached = "message/rfc822", original
    else:
        attached_type, attached = "text/rfc822-headers", _headers_of(original)
    if not attached.endswith(b"\r\n"):
        attached += b"\r\n"
    description = "Undelivered message" if kind in ("failure", "delay") else "Message headers"
    head = "\r\n".join(
        [
            f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
            f"To: <{envelope.sender}>",
            f"Subject: {SUBJECTS[kind]}",
            f"Date: {format_datetime(now)}",
            f"Message-ID: {make_msgid(domain=hostname)}",
            "Auto-Submitted: auto-replied",  # RFC 3834 §5
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
            "",
            "This is a MIME-encapsulated message.",
            "",
        ]
    )
    parts: list[str | bytes] = [
        head.encode(),
        f"--{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n" + "\r\n".join(human) + "\r\n",
        f"--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        + "\r\n\r\n".join(blocks)
        + "\r\n",
        f"--{boundary}\r\nContent-Description: {description}\r\nContent-Type: {attached_type}\r\n\r\n",
    ]
    body = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return body + attached + f"\r\n--{boundary}--\r\n".encode()


def _local_accounts(address: str, depth: int = 0) -> tuple[list[int], list[str]]:
    """Local account ids and remote addresses that mail to `address` reaches (aliases followed)."""
    account = account_by_address(address)
    if account is not None:
        return [account.pk], []
    _, _, domain = address.rpartition("@")
    alias = Alias.objects.filter(active=True, source__in=[address.lower(), f"@{domain.lower()}"]).order_by("-source")
    found = alias.first()
    if found is None or depth > 5:
        return [], []
    accounts: list[int] = []
    remote: list[str] = []
    for destination in found.destinations:
        if domain_is_local(destination.rpartition("@")[2]):
            more_accounts, more_remote = _local_accounts(destination, depth + 1)
            accounts += more_accounts
            remote += more_remote
        else:
            remote.append(destination)
    return accounts, remote


def dsn_send(*, outbound: OutboundMessage, notices: list[Notice], kind: str, original: bytes) -> None:
    """Send a report on a queued message to its envelope sender; call inside the transaction
    that records the outcome."""
    report_send(envelope=ReportEnvelope.of(outbound), notices=notices, kind=kind, original=original)


def report_send(*, envelope: ReportEnvelope, notices: list[Notice], kind: str, original: bytes) -> None:
    """Send a report to the envelope sender: into a local sender's INBOX at once, through the
    queue to a remote one. Call inside the transaction that records what it reports."""
    sender = envelope.sender
    if not sender or not notices:
        return  # the null sender never gets a report
    report = dsn_compose(envelope=envelope, notices=notices, kind=kind, original=original)
    if domain_is_local(sender.rpartition("@")[2]):
        account_ids, remote = _local_accounts(sender)
        if account_ids:
            message_deliver(raw=report, targets=[DeliveryTarget(account_id=a) for a in account_ids])
            for account_id in account_ids:
                log_record(event="delivered", queue_id=envelope.queue_id, recipient=sender, folder="INBOX",
                           detail={"dsn": kind, "account_id": account_id})  # fmt: skip
        if not remote:
            if not account_ids:
                log.warning("report for %s dropped: no such local address", sender)
            return
        recipients = remote
    else:
        recipients = [sender]
    queue_enqueue(
        raw=report,
        sender="",
        recipients=[QueueRecipient(address) for address in recipients],
        body_8bit=any(b > 127 for b in report),
    )
