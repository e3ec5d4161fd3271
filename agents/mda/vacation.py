"""Vacation auto-replies (RFC 5230): when to answer, and the reply message itself (RFC 3834).

Pure functions; agents.mda.deliver asks the store whether this sender was answered lately
(store.services.vacation) and queues the reply with a null envelope sender (RFC 5230 §5.1).
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    from agents.mda.sieve import SieveInput, Vacation

# RFC 5230 §4.6 and RFC 3834 §2: never answer robots, lists or bounces.
_ROBOT_LOCAL_PARTS = ("mailer-daemon", "listserv", "majordomo", "noreply", "no-reply", "postmaster")
_LIST_HEADERS = ("list-id", "list-help", "list-subscribe", "list-unsubscribe", "list-post", "list-owner")
_RECIPIENT_HEADERS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")


def vacation_applies(message: SieveInput, vacation: Vacation, own_addresses: list[str]) -> bool:
    """RFC 5230 §4.5-§4.6: reply only to a person who wrote to one of the user's addresses."""
    sender = message.envelope_from.lower()
    if not sender or "@" not in sender:
        return False
    local = sender.split("@", 1)[0]
    if local in _ROBOT_LOCAL_PARTS or local.startswith("owner-") or local.endswith(("-request", "-bounces")):
        return False
    for value in message.header_values("auto-submitted"):
        if value.strip().lower().split(";")[0] != "no":
            return False
    if any(message.header_values(name) for name in _LIST_HEADERS):
        return False
    if any(v.strip().lower() in ("bulk", "list", "junk") for v in message.header_values("precedence")):
        return False
    mine = {address.lower() for address in (*own_addresses, *vacation.addresses)}
    if sender in mine:
        return False
    written_to = {
        address.lower()
        for name in _RECIPIENT_HEADERS
        for _, address in getaddresses(message.header_values(name))
        if address
    }
    return bool(written_to & mine)


def vacation_handle(vacation: Vacation) -> str:
    """RFC 5230 §4.2: without :handle, the reason and subject identify the reply."""
    if vacation.handle:
        return vacation.handle[:200]
    return hashlib.sha256(f"{vacation.subject}\0{vacation.reason}".encode()).hexdigest()


def vacation_reply_build(*, message: SieveInput, vacation: Vacation, account_address: str) -> bytes:
    """The reply (RFC 3834 §3): Auto-Submitted: auto-replied, In-Reply-To/References set."""
    original_subject = next(iter(message.header_values("subject")), "")
    reply = EmailMessage()
    reply["From"] = vacation.from_address or account_address
    reply["To"] = message.envelope_from
    reply["Subject"] = vacation.subject or f"Auto: {original_subject}".strip()
    reply["Date"] = format_datetime(timezone.now())
    reply["Message-ID"] = make_msgid(domain=account_address.rsplit("@", 1)[-1])
    original_id = next(iter(message.header_values("message-id")), "").strip()
    if original_id:
        reply["In-Reply-To"] = original_id
        reply["References"] = original_id
    reply["Auto-Submitted"] = "auto-replied (vacation)"
    reply["Precedence"] = "bulk"
    reply.set_content(vacation.reason)  # :mime reasons are sent as text (gap: no MIME entity parsing)
    return reply.as_bytes(policy=reply.policy.clone(linesep="\r\n"))
