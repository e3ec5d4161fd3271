"""Delivery of accepted messages: Sieve rules, local copies, queue rows, vacation replies.

`jobs_deliver` turns messages and their resolved recipients into store writes: one blob per
message, every local copy of every message through one store.services.messages_deliver_batch
call, remote alias targets and Sieve redirects of all of them through one
store.services.queue.queue_enqueue_batch call.
`GroupCommitter` runs many sessions' jobs in one database transaction on one thread (group
commit): one COMMIT (one WAL fsync) for the batch, and only then are the sessions told to answer
250 (DESIGN rule 1).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agents.batchthread import BatchThread
from agents.mda.sieve import SieveInput, SieveResult, SieveSyntaxError, flags_stored, sieve_parse, sieve_run
from agents.mda.vacation import vacation_applies, vacation_handle, vacation_reply_build
from agents.mta.dsn import Notice, ReportEnvelope, notify_allows, report_send
from agents.smtp.faults import fault_point
from store.blobs import WireFacts, blob_inline, blob_write, blobs_write
from store.durability import commit_flush, commits_flush_after_lock, flush_mode_keep
from store.errors import InvalidName, StoreError
from store.mime_headers import field_value, header_end, header_fields
from store.mime_text import decode_rfc2047, guess_text
from store.parse import ParsedMessage, parse_message
from store.selectors.imap import imap_folders
from store.selectors.smtp import LocalAccount, recipient_resolve, sieve_scripts_for_many
from store.services.folders import folder_name_normalize
from store.services.log import log_record, log_records
from store.services.messages import DeliveryItem, DeliveryLogEntry, DeliveryTarget, messages_deliver_batch
from store.services.queue import QueueItem, QueueRecipient, queue_enqueue, queue_enqueue_batch
from store.services.search_index import search_at_delivery
from store.services.sieve import sieve_script_record_error
from store.services.vacation import vacation_reply_claim
from store.writelock import database_write_lock

log = logging.getLogger(__name__)

PARSED_SCRIPT_CACHE_SIZE = 512
BLOB_WRITERS = 8  # threads writing and fsyncing message files for the sessions


@dataclass
class RecipientPlan:
    """One envelope recipient as resolved at RCPT time."""

    address: str
    accounts: list[LocalAccount] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    notify: str = ""
    orcpt: str = ""


@dataclass
class DeliveryJob:
    raw: bytes
    sender: str
    recipients: list[RecipientPlan]
    smtputf8: bool = False
    body_8bit: bool = False
    dsn_ret: str = ""
    dsn_envid: str = ""
    submitted_by: str = ""
    client_ip: str | None = None
    tls: bool = False
    helo: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)  # spf/dkim/dmarc results on the MX
    # The message file being written and fsynced by another thread; it must be durable before
    # the transaction that names it commits. None: batch_deliver writes it first.
    blob: Future[str] | None = None
    # The message parsed (or its parse's error); None: batch_deliver parses it.
    parsed: Future[ParsedMessage] | None = None
    wire: WireFacts | None = None  # known wire facts of raw (store.services.messages.DeliveryItem.wire)


@dataclass
class DeliveryOutcome:
    ok: bool
    quota: bool = False
    message_id: str = ""


def sieve_input(
    raw: bytes, *, size: int, envelope_from: str, envelope_to: str, account_id: int | None = None
) -> SieveInput:
    header_stop, _ = header_end(raw, 0, len(raw))
    headers = [
        (name.lower(), " ".join(decode_rfc2047(guess_text(field_value(field_bytes))).split()))
        for name, field_bytes in header_fields(raw[:header_stop])
    ]
    message = SieveInput(headers=headers, size=size, envelope_from=envelope_from, envelope_to=envelope_to)
    if account_id is not None:
        message = replace(message, mailbox_exists=_mailbox_lookup(account_id))
    return message


def _mailbox_lookup(account_id: int) -> Callable[[str], bool]:
    """mailboxexists for one account: its folder names, read once and only if a script asks."""
    names: set[str] | None = None

    def exists(name: str) -> bool:
        nonlocal names
        if names is None:
            names = {folder.name for folder in imap_folders(account_id)}
        try:
            return folder_name_normalize(name) in names
        except InvalidName:
            return False

    return exists


_script_cache: OrderedDict[tuple[int, str], list[Any]] = OrderedDict()
_script_cache_lock = threading.Lock()


def _parsed_script(script_id: int, content: str) -> list[Any]:
    key = (script_id, hashlib.sha256(content.encode()).hexdigest())
    with _script_cache_lock:
        cached = _script_cache.get(key)
        if cached is not None:
            _script_cache.move_to_end(key)
            return cached
    commands = sieve_parse(content)
    with _script_cache_lock:
        _script_cache[key] = commands
        while len(_script_cache) > PARSED_SCRIPT_CACHE_SIZE:
            _script_cache.popitem(last=False)
    return commands


def rules_apply(scripts: list[tuple[int, str, str]], message: SieveInput) -> SieveResult | None:
    """Run the domain's and the account's active scripts; None means plain INBOX delivery.

    A script that does not parse or fails at run time never loses mail: the error is recorded
    on the script and the message goes to INBOX.
    """
    if not scripts:
        return None
    parsed: list[list[Any]] = []
    for script_id, _name, content in scripts:
        try:
            parsed.append(_parsed_script(script_id, content))
        except SieveSyntaxError as error:
            sieve_script_record_error(script_id=script_id, error=str(error))
    try:
        return sieve_run(parsed, message)
    except Exception as error:
        for script_id, _name, _content in scripts:
            sieve_script_record_error(script_id=script_id, error=f"runtime: {error}")
        return None


@dataclass
class _Plan:
    targets: list[DeliveryTarget] = field(default_factory=list)
    remote: dict[str, QueueRecipient] = field(default_factory=dict)
    redirects: dict[str, None] = field(default_factory=dict)
    vacations: list[tuple[LocalAccount, Any, SieveInput]] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    addresses: dict[int, str] = field(default_factory=dict)  # account id -> address (delivery log)
    rules: dict[int, str] = field(default_factory=dict)  # account id -> scripts that filed its copy


Scripts = dict[tuple[int, int], list[tuple[int, str, str]]]


def _plan(job: DeliveryJob, parsed: ParsedMessage, scripts: Scripts) -> _Plan:
    plan = _Plan()
    seen_accounts: set[int] = set()
    for rcpt in job.recipients:
        # An address that expands to several destinations gets its success report here
        # ("expanded"); its remote destinations must not each report success again (RFC 3461 §6.2.7.3).
        notify = _without_success(rcpt.notify) if _expands(rcpt) else rcpt.notify
        for address in rcpt.remote:
            plan.remote.setdefault(address, QueueRecipient(address, notify=notify, orcpt=rcpt.orcpt))
        for account in rcpt.accounts:
            if account.account_id in seen_accounts:
                continue
            seen_accounts.add(account.account_id)
            plan.addresses[account.account_id] = account.address
            account_scripts = scripts.get((account.account_id, account.domain_id), [])
            if not account_scripts:
                plan.targets.append(DeliveryTarget(account.account_id))
                continue
            message = sieve_input(
                job.raw,
                size=parsed.size,
                envelope_from=job.sender,
                envelope_to=rcpt.address,
                account_id=account.account_id,
            )
            result = rules_apply(account_scripts, message)
            if result is None:
                plan.targets.append(DeliveryTarget(account.account_id))
                continue
            plan.rules[account.account_id] = ", ".join(name for _id, name, _content in account_scripts)
            for target in result.folders:
                bits, keywords = flags_stored(target.flags)
                plan.targets.append(
                    DeliveryTarget(
                        account.account_id,
                        folder=target.folder,
                        create_folder=target.create,
                        flags=bits,
                        keywords=keywords,
                    )
                )
            for address in result.redirects:
                plan.redirects[address.lower()] = None
            if result.vacation is not None:
                plan.vacations.append((account, result.vacation, message))
            if not result.folders:
                plan.discarded.append(account.address)
    return plan


def _expands(rcpt: RecipientPlan) -> bool:
    return len(rcpt.accounts) + len(rcpt.remote) > 1


def _without_success(notify: str) -> str:
    words = [word for word in notify.split(",") if word.strip() and word.strip().upper() != "SUCCESS"]
    return ",".join(words) if words or not notify else "NEVER"


def _success_notices(job: DeliveryJob, delivered: set[int]) -> list[Notice]:
    """RFC 3461 NOTIFY=SUCCESS of the recipients delivered here (local delivery is the final one):
    "delivered", or "expanded" for an address that led to several destinations. A recipient
    counts once every local account it leads to has a stored copy (a Sieve discard is none);
    one that only leads elsewhere is the relay's to report."""
    notices: list[Notice] = []
    for rcpt in job.recipients:
        accounts = {account.account_id for account in rcpt.accounts}
        if not accounts or not accounts <= delivered or not notify_allows(rcpt.notify, "delivered"):
            continue
        action = "expanded" if _expands(rcpt) else "delivered"
        text = "delivered to mailbox" if action == "delivered" else "delivered, and forwarded to its destinations"
        notices.append(Notice(rcpt.address, "", orcpt=rcpt.orcpt, text=text, action=action))
    return notices


def _redirect(job: DeliveryJob, plan: _Plan) -> list[DeliveryTarget]:
    """Sieve redirects: local addresses are delivered to INBOX directly (no rules, so no loops)."""
    local: list[DeliveryTarget] = []
    for address in plan.redirects:
        resolution = recipient_resolve(address)
        local.extend(DeliveryTarget(account.account_id) for account in resolution.accounts)
        for remote in resolution.remote:
            plan.remote.setdefault(remote, QueueRecipient(remote))
    return local


def jobs_scripts(jobs: list[DeliveryJob]) -> Scripts:
    """The active Sieve scripts of every account the jobs deliver to, and of their domains: one query."""
    accounts = (account for job in jobs for rcpt in job.recipients for account in rcpt.accounts)
    return sieve_scripts_for_many({(account.account_id, account.domain_id) for account in accounts})


def jobs_deliver(jobs: list[DeliveryJob], scripts: Scripts | None = None) -> list[DeliveryOutcome]:
    """Deliver many messages; call inside a transaction (the caller commits them together).

    The Sieve scripts of every account involved come from `scripts` (jobs_scripts of these jobs
    or more), else from one query; one store call (messages_deliver_batch) writes every local
    copy. A message whose local recipients are all over quota and that has no other recipient
    gets a quota outcome and nothing is written for it. Queue rows, vacation replies and logs of
    the other paths follow per message.
    """
    search = search_at_delivery()
    parsed_list = [
        job.parsed.result() if job.parsed is not None else parse_message(job.raw, search=search) for job in jobs
    ]
    if scripts is None:
        scripts = jobs_scripts(jobs)
    plans = [_plan(job, parsed, scripts) for job, parsed in zip(jobs, parsed_list, strict=True)]
    received_rows = [_received_rows(job, parsed) for job, parsed in zip(jobs, parsed_list, strict=True)]
    items = []
    for job, parsed, plan, rows in zip(jobs, parsed_list, plans, received_rows, strict=True):
        targets = plan.targets + _redirect(job, plan)
        items.append(
            DeliveryItem(
                raw=job.raw,
                targets=targets,
                parsed=parsed,
                blob_written_by_caller=job.blob is not None,
                wire=job.wire,
                # Once some copy is accepted (or a remote recipient queued), the 250 covers the
                # full mailboxes too: deliver to them in quota grace (Dovecot's quota_grace).
                enforce_quota=not plan.remote,
                quota_grace=True,
                log=DeliveryLogEntry(
                    sender=job.sender,
                    client_ip=job.client_ip,
                    tls=job.tls,
                    addresses=plan.addresses,
                    rules=plan.rules,
                    received=rows,
                ),
            )
        )
    results = messages_deliver_batch(items=items)
    outcomes: list[DeliveryOutcome] = []
    queued: list[QueueItem] = []  # remote recipients of the whole batch: one queue_enqueue_batch
    received: list[dict[str, Any]] = []
    for job, parsed, plan, item, result, rows in zip(
        jobs, parsed_list, plans, items, results, received_rows, strict=True
    ):
        if result.error:
            log.warning("delivery failed: %s", result.error)
            outcomes.append(DeliveryOutcome(ok=False))
            continue
        if item.targets and not result.delivered and not plan.remote:
            outcomes.append(DeliveryOutcome(ok=False, quota=bool(result.over_quota)))
            continue
        # The "received" lines go in with the first lines written for the message: its delivered
        # copies' (already, when it has some), else its queued recipients', else on their own.
        unlogged = [] if result.logged else rows
        if plan.remote:
            queued.append(
                QueueItem(
                    raw=job.raw,
                    sender=job.sender,
                    recipients=list(plan.remote.values()),
                    parsed=parsed,
                    smtputf8=job.smtputf8,
                    body_8bit=job.body_8bit,
                    dsn_ret=job.dsn_ret,
                    dsn_envid=job.dsn_envid,
                    submitted_by=job.submitted_by,
                    client_ip=job.client_ip,
                    blob_written_by_caller=job.blob is not None,
                    wire=job.wire,
                    log_before=unlogged,
                )
            )
        else:
            received.extend(unlogged)
        for address in plan.discarded:
            log_record(
                event="discarded", message_id=parsed.message_id[:998], sender=job.sender[:320], recipient=address
            )
        _vacations(plan)
        notices = _success_notices(job, {copy.account_id for copy in result.delivered}) if job.sender else []
        if notices:
            report_send(
                envelope=ReportEnvelope(job.sender, timezone.now(), job.dsn_envid, job.dsn_ret),
                notices=notices,
                kind="delivered",
                original=job.raw,
            )
        outcomes.append(DeliveryOutcome(ok=True, message_id=parsed.message_id))
    if received:
        log_records(rows=received)
    queue_enqueue_batch(items=queued)
    return outcomes


def _received_rows(job: DeliveryJob, parsed: ParsedMessage) -> list[dict[str, Any]]:
    """One "received" line per envelope recipient: where the message came from and its verdicts."""
    detail: dict[str, str] = dict(job.verdicts)
    if job.submitted_by:
        detail["authenticated"] = job.submitted_by
    return [
        {
            "event": "received",
            "message_id": parsed.message_id[:998],
            "sender": job.sender[:320],
            "recipient": rcpt.address[:320],
            "remote_host": job.helo[:255],
            "client_ip": job.client_ip,
            "tls": job.tls,
            "size": parsed.size,
            "detail": detail,
        }
        for rcpt in job.recipients
    ]


def _vacations(plan: _Plan) -> None:
    for account, vacation, message in plan.vacations:
        if not vacation_applies(message, vacation, [account.address]):
            continue
        sender = message.envelope_from.lower()
        if not vacation_reply_claim(
            account_id=account.account_id, sender=sender, handle=vacation_handle(vacation), days=vacation.days
        ):
            continue
        reply = vacation_reply_build(message=message, vacation=vacation, account_address=account.address)
        queue_enqueue(raw=reply, sender="", recipients=[QueueRecipient(sender)], submitted_by=account.address)


def batch_deliver(jobs: list[DeliveryJob]) -> list[DeliveryOutcome]:
    """Group commit: every job of the batch in one transaction, one COMMIT for all of them.

    Should the batch fail as a whole (a queue or log write, a database error), it is rolled
    back and each job is retried in a transaction of its own, so one bad message cannot cost
    the others their delivery.
    """
    # Files durable before any row names them; the bytes of small messages go in with their rows.
    blobs_write([job.raw for job in jobs if job.blob is None and not blob_inline(len(job.raw))])
    _parse(jobs)  # while the pool writes and fsyncs the files
    # The files are waited for before the write lock is taken: on SQLite the lock is the
    # database's, shared with the other agents processes, and holding it through an fsync of
    # ours would hold up their batches too.
    _blobs_wait(jobs)
    # A read: before the lock, so that it holds one statement fewer (a script changed meanwhile
    # applies from the next message on, as if this one had come a moment earlier).
    scripts = jobs_scripts(jobs)
    # On SQLite the commit does not wait for the disk inside the write lock: the flush comes
    # after the lock is released (store.durability.commit_flush), before any reply.
    flush_after = commits_flush_after_lock()
    if flush_after:
        flush_mode_keep(False)
    try:
        with database_write_lock(), transaction.atomic():
            outcomes = jobs_deliver(jobs, scripts)
            fault_point("blob")
            fault_point("commit")
    except Exception:
        if len(jobs) == 1:
            raise
        log.exception("delivery batch of %d failed; delivering its messages one by one", len(jobs))
        outcomes = []
        for job in jobs:
            try:
                with database_write_lock(), transaction.atomic():
                    outcomes.extend(jobs_deliver([job], scripts))
            except Exception as error:  # this job only: the ones before it are committed
                log.warning("delivery failed: %s", error, exc_info=not isinstance(error, StoreError))
                outcomes.append(DeliveryOutcome(ok=False))
                if isinstance(error, DatabaseError) and not connection.is_usable():
                    connection.close()
    if flush_after:
        try:
            commit_flush()
        except OSError:
            # Committed, but the disk may not hold it: no 250 (a retry may then bring a copy).
            log.exception("the database's log could not be flushed; the batch gets 451")
            outcomes = [DeliveryOutcome(ok=False) for _ in outcomes]
    fault_point("committed")
    return outcomes


def _parse(jobs: list[DeliveryJob]) -> None:
    """Parse the messages of the batch not parsed yet, on this thread, before the write lock.

    Not on the pool: a parse is Python through and through and holds the GIL, and while this
    thread holds the database's write lock every statement gives the GIL up and must win it back;
    a parse of the next messages running meanwhile made each of them wait (at 10 sessions an
    executemany took 214 µs against 22 µs for one session alone), so the lock, which every
    process's deliveries take in turn, was held that much longer. A parse that fails fails its
    job only (jobs_deliver raises it; the batch is then retried message by message)."""
    search = search_at_delivery()
    for job in jobs:
        if job.parsed is None:
            parsed: Future[ParsedMessage] = Future()
            try:
                parsed.set_result(parse_message(job.raw, search=search))
            except Exception as error:
                parsed.set_exception(error)
            job.parsed = parsed


def _blobs_wait(jobs: list[DeliveryJob]) -> None:
    """Until every job's file is durable (raises when one could not be written)."""
    for job in jobs:
        if job.blob is not None:
            job.blob.result()


class GroupCommitter(BatchThread[DeliveryJob, DeliveryOutcome]):
    """The delivery thread of the SMTP listeners; sessions hand it jobs and await the committed
    outcome (see agents.batchthread). Shared by the listeners of one process: the thread stops
    when the last of them closes, after the pending jobs."""

    def __init__(self, *, batch_max: int | None = None) -> None:
        super().__init__(name="smtp-group-commit", batch_max=batch_max or settings.YUBIN_SMTP_GROUP_COMMIT_MAX)
        self._users = 0
        self._blob_pool = ThreadPoolExecutor(max_workers=BLOB_WRITERS, thread_name_prefix="smtp-blob")
        self.start()

    async def deliver(self, job: DeliveryJob) -> DeliveryOutcome:
        # The files of messages too large to keep in the database are written and fsynced on a
        # pool, in parallel with each other (the file system merges concurrent fsyncs into one
        # journal commit), with the delivery thread's work on the batch before and with its parse
        # of this one; the thread waits for them before it takes the write lock.
        if not blob_inline(len(job.raw)):  # else its bytes go in with its row
            job.blob = self._blob_pool.submit(blob_write, job.raw)
        return await self.submit(job)

    def acquire(self) -> None:
        self._users += 1

    def release(self) -> None:
        """Stop the thread when the last listener using it closes (pending jobs finish first)."""
        self._users -= 1
        if self._users <= 0:
            self.stop(wait=False)

    def run_batch(self, jobs: list[DeliveryJob]) -> list[DeliveryOutcome]:
        try:
            return batch_deliver(jobs)
        except Exception:
            log.exception("delivery batch failed; every message in it gets 451")
            # The connection may be broken: the next batch opens a new one. (The thread keeps
            # its connection otherwise: reconnecting per batch costs more than the batch.)
            connection.close()
            return [DeliveryOutcome(ok=False) for _ in jobs]

    def finished(self) -> None:
        self._blob_pool.shutdown(wait=False)
