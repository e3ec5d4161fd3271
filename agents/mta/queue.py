"""The relay queue: claim due recipients, deliver them per destination domain, record the outcome.

DESIGN rule 2: rows are the truth. A task names messages ("deliver rows N, M, ..."): the ones
committed together on the acceptance side, or a group of due ones found by the sweep.
`relay_messages` claims their due recipients with a lease (store.services.queue.queue_claim), so
two workers never attempt the same row at once; a worker that dies leaves the lease to expire and
the sweep dispatches the rows again (at-least-once: a worker killed after the remote's final 250
and before the outcome commits makes the next attempt send a duplicate). Retries follow Postfix:
first after YUBIN_RELAY_RETRY_FIRST, doubling, capped at YUBIN_RELAY_RETRY_MAX, bounced after
YUBIN_RELAY_LIFETIME; one delay warning after YUBIN_RELAY_DELAY_WARNING.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agents.mta.delivery import Attempt, relay_domain
from agents.mta.dsn import Notice, dsn_send, notify_allows
from store.blobs import blob_read
from store.models import OutboundMessage, OutboundRecipient, QueueState
from store.selectors.queue import queue_due_message_ids_by_destination
from store.services.queue import (
    AttemptOutcome,
    MessageOutcomes,
    queue_claim,
    queue_claim_release,
    queue_outcomes_record_batch,
    queue_warned_mark,
)

log = logging.getLogger(__name__)

CONCURRENCY_RETRY_SECONDS = 10  # a destination at its concurrency limit is tried again this soon


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones: first, doubling, capped."""
    first = max(1, settings.YUBIN_RELAY_RETRY_FIRST)
    return int(min(first * 2 ** max(0, attempts - 1), max(first, settings.YUBIN_RELAY_RETRY_MAX)))


@contextlib.contextmanager
def destination_slot(domain: str) -> Iterator[bool]:
    """One of YUBIN_RELAY_DESTINATION_CONCURRENCY slots for a domain, shared by every worker.
    Yields False when all are taken.

    With the cache shared between hosts (Redis) a slot is a cache key, taken atomically and
    held for at most the lease. With the file cache (one host) it is an flock on one of a fixed
    set of lock files: four system calls instead of the file cache's pickled files (a tenth of a
    relay worker's CPU), and the kernel frees the slot of a worker that dies, where a cache key
    would keep it taken until the lease ends."""
    limit = settings.YUBIN_RELAY_DESTINATION_CONCURRENCY
    if limit <= 0:
        yield True
    elif slots_shared():
        with _cache_slot(domain, limit) as taken:
            yield taken
    else:
        with _lock_slot(domain, limit) as taken:
            yield taken


def slots_shared() -> bool:
    """Whether destination slots live in the cache (every host's workers see them)."""
    return not str(settings.CACHES["default"]["BACKEND"]).endswith("FileBasedCache")


@contextlib.contextmanager
def _cache_slot(domain: str, limit: int) -> Iterator[bool]:
    token = secrets.token_hex(8)
    taken = None
    for index in range(limit):
        key = f"mta:slot:{domain}:{index}"
        if cache.add(key, token, timeout=settings.YUBIN_RELAY_LEASE):
            taken = key
            break
    try:
        yield taken is not None
    finally:
        if taken is not None and cache.get(taken) == token:
            cache.delete(taken)


def _slot_open(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


SLOT_FILES = 4096  # (domain, slot) pairs hash into this many lock files: a collision costs a slot


def slot_file(domain: str, index: int) -> str:
    """The lock file of a domain's slot number `index`."""
    bucket = zlib.crc32(f"{domain.lower()}\0{index}".encode()) % SLOT_FILES
    return f"{settings.DATA_DIR}/relay-slots/{bucket:03x}"


@contextlib.contextmanager
def _lock_slot(domain: str, limit: int) -> Iterator[bool]:
    held = None
    for index in range(limit):
        path = slot_file(domain, index)
        try:
            fd = _slot_open(path)
        except OSError as error:  # e.g. made by another user: the limit must not stop the mail
            log.warning("relay: destination slot file %s unusable (%s); delivering without the limit", path, error)
            yield True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held = fd
        break
    try:
        yield held is not None
    finally:
        if held is not None:
            os.close(held)  # releases the lock


def relay_message(outbound_id: int) -> int:
    """One delivery attempt for every due recipient of a message; returns how many were attempted."""
    return relay_messages([outbound_id])


def relay_messages(outbound_ids: Sequence[int]) -> int:
    """One delivery attempt for every due recipient of these messages: claimed in one statement,
    delivered per destination domain over shared sessions, recorded in one transaction. Rows
    another worker holds, or no longer due, are left alone. Returns how many were attempted."""
    recipients = queue_claim(outbound_ids=outbound_ids, lease_seconds=settings.YUBIN_RELAY_LEASE)
    if not recipients:
        return 0
    originals: dict[str, bytes] = {}
    prepared: dict[int, dict[str, bytes]] = {}  # per message: its signed variants
    finished: list[_Finished] = []
    for domain, in_domain in groupby(recipients, key=lambda r: r.domain):
        group = list(in_domain)
        with destination_slot(domain) as free:
            if not free:
                queue_claim_release(recipient_ids=[r.pk for r in group], delay_seconds=CONCURRENCY_RETRY_SECONDS)
                continue
            for _, of_message in groupby(group, key=lambda r: r.message_id):
                batch_of_message = list(of_message)
                outbound = batch_of_message[0].message
                if outbound.blob_id not in originals:
                    originals[outbound.blob_id] = blob_read(outbound.blob_id)
                original = originals[outbound.blob_id]
                attempts = relay_domain(outbound=outbound, original=original, domain=domain,
                                        recipients=batch_of_message,
                                        prepared=prepared.setdefault(outbound.pk, {}))  # fmt: skip
                finished.append(_Finished(outbound, original, batch_of_message, attempts))
    relay_finish(finished)
    return sum(len(item.recipients) for item in finished)


@dataclass
class _Finished:
    outbound: OutboundMessage
    original: bytes
    recipients: list[OutboundRecipient]
    attempts: dict[int, Attempt]


@dataclass
class _Reports:
    failed: list[Notice]
    delayed: list[Notice]
    relayed: list[Notice]


def _outcomes(item: _Finished, now: datetime) -> tuple[list[AttemptOutcome], _Reports]:
    """Each recipient's new state from its reply, age and NOTIFY; the reports the sender gets."""
    outbound = item.outbound
    expired = (now - outbound.created).total_seconds() >= settings.YUBIN_RELAY_LIFETIME
    outcomes: list[AttemptOutcome] = []
    reports = _Reports([], [], [])
    for recipient in item.recipients:
        attempt = item.attempts[recipient.pk]
        notice = Notice(recipient.address, attempt.reply, attempt.host, recipient.dsn_orcpt)
        code = attempt.reply[:1]
        if code == "2":
            state = QueueState.SENT
            if attempt.report_success and notify_allows(recipient.dsn_notify, "relayed"):
                reports.relayed.append(notice)
        elif code == "5" or expired:
            state = QueueState.BOUNCED
            if code != "5":
                days = round(settings.YUBIN_RELAY_LIFETIME / 86400, 2)
                notice = Notice(recipient.address, f"{attempt.reply} (gave up: message is {days:g} days old)",
                                attempt.host, recipient.dsn_orcpt)  # fmt: skip
            if notify_allows(recipient.dsn_notify, "failure"):
                reports.failed.append(notice)
        else:
            state = QueueState.DEFERRED
            if notify_allows(recipient.dsn_notify, "delay"):
                reports.delayed.append(notice)
        next_attempt = (
            now + timedelta(seconds=retry_delay(recipient.attempts)) if state == QueueState.DEFERRED else None
        )
        outcomes.append(
            AttemptOutcome(recipient.pk, state, notice.reply, attempt.host, attempt.tls, next_attempt=next_attempt)
        )
    return outcomes, reports


def relay_finish(finished: list[_Finished]) -> None:
    """Record every recipient's outcome and send the senders' reports, in one transaction."""
    if not finished:
        return
    now = timezone.now()
    decided = [(item, *_outcomes(item, now)) for item in finished]
    with transaction.atomic():
        queue_outcomes_record_batch(
            results=[
                MessageOutcomes(item.outbound, outcomes, {r.pk: r.address for r in item.recipients})
                for item, outcomes, _ in decided
            ]
        )
        for item, _, reports in decided:
            outbound = item.outbound
            if not (reports.failed or reports.relayed or reports.delayed):
                continue
            dsn_send(outbound=outbound, notices=reports.failed, kind="failure", original=item.original)
            dsn_send(outbound=outbound, notices=reports.relayed, kind="relayed", original=item.original)
            age = (now - outbound.created).total_seconds()
            warning = settings.YUBIN_RELAY_DELAY_WARNING
            if reports.delayed and warning > 0 and age >= warning and not outbound.warned:
                dsn_send(outbound=outbound, notices=reports.delayed, kind="delay", original=item.original)
                queue_warned_mark(outbound_id=outbound.pk)
                outbound.warned = True


def relay_sweep() -> int:
    """Dispatch every message with due recipients, YUBIN_RELAY_BATCH messages per task, those
    of the same destination together; returns how many messages were dispatched."""
    from agents.mta.tasks import deliver

    due = queue_due_message_ids_by_destination(now=timezone.now())
    size = max(1, settings.YUBIN_RELAY_BATCH)
    for start in range(0, len(due), size):
        deliver.apply_async((due[start : start + size],))
    return len(due)


def admin_bounce_notice(outbound: OutboundMessage, recipients: list[OutboundRecipient]) -> None:
    """The report for recipients bounced by the postmaster (store queue_bounce's notice hook)."""
    notices = [
        Notice(r.address, r.last_reply, r.last_host, r.dsn_orcpt)
        for r in recipients
        if notify_allows(r.dsn_notify, "failure")
    ]
    dsn_send(outbound=outbound, notices=notices, kind="failure", original=blob_read(outbound.blob_id))
