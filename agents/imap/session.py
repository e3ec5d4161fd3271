"""One IMAP connection: reading commands (literals, limits), dispatch by state, folder updates.

RFC 3501 §5.2 / §7.4.1 (when EXISTS/EXPUNGE/FETCH updates may be sent), §5.4 (autologout),
RFC 7888 (LITERAL+ / LITERAL-), RFC 7162 (CONDSTORE/QRESYNC untagged MODSEQ and VANISHED).
Store access runs on a thread pool; the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection as db_connection
from django.db import transaction

from agents.batchthread import BatchThread
from agents.imap import limits
from agents.imap.connection import Closed, Connection, LineTooLong
from agents.imap.errors import Bad, Bye, ImapError, No
from agents.imap.folder_cache import META, FolderMeta
from agents.imap.protocol import response
from agents.imap.protocol.parser import Args, ParseError, ascii_digits, literal_announced, parse_command, tag_of
from agents.imap.protocol.seqset import SeqSet, SeqSetError, select_positions, seqset_format
from agents.imap.protocol.utf7 import Utf7Error, utf7_decode, utf7_encode
from agents.imap.registry import (
    AUTHENTICATED,
    COMMANDS,
    LOGOUT,
    NOT_AUTHENTICATED,
    REPLIED,
    SELECTED,
    Request,
)
from agents.imap.view import RECENT_CLAIMED, FolderView, Update, columns_remove
from store.changes import Change, subscribe_async
from store.durability import commit_flush, commits_flush_after_lock, flush_mode_keep
from store.errors import AlreadyExists, InvalidName, LimitReached, NotFound, QuotaExceeded, StoreError
from store.models import Flag
from store.services import folder_recent_claim
from store.writelock import database_write_lock

log = logging.getLogger(__name__)

T = TypeVar("T")

# RFC 3501 §7.4.1: no EXPUNGE while answering these (sequence numbers would shift under the client).
NO_EXPUNGE_COMMANDS = frozenset({"FETCH", "STORE", "SEARCH", "COPY", "SORT", "THREAD"})
# Commands after which the store is asked for changes even without a change event.
POLL_COMMANDS = frozenset({"NOOP", "CHECK"})
# Change kinds whose MODSEQ says everything about them (others, like a folder rename, are read).
DATA_CHANGES = frozenset({"add", "flags", "expunge"})

_CLAIMS: set[asyncio.Future[Any]] = set()  # \\Recent claims on their way to the store


def _claim_done(claim: asyncio.Future[Any]) -> None:
    _CLAIMS.discard(claim)
    if not claim.cancelled() and claim.exception() is not None:
        log.warning("\\Recent claim not stored: %s", claim.exception())


RECENT_BIT = 1 << 30  # only in flags_bytes' cache key; the store's flags never carry it
_FLAG_CACHE: dict[tuple[int, tuple[str, ...]], bytes] = {}


def flags_bytes(bits: int, keywords: tuple[str, ...] = (), recent: bool = False) -> bytes:
    """A FLAGS list; \\Recent is session state (the view's), never stored with the message."""
    key = (bits | RECENT_BIT, keywords) if recent else (bits, keywords)
    cached = _FLAG_CACHE.get(key)
    if cached is None:
        names = Flag.to_names(bits) + (["\\Recent"] if recent else []) + list(keywords)
        cached = ("(" + " ".join(names) + ")").encode("utf-8", "surrogateescape")
        if len(_FLAG_CACHE) < 10000:
            _FLAG_CACHE[key] = cached
    return cached


WRITE_BATCH_MAX = 64  # store writes of different sessions committed together at most


@dataclass(frozen=True)
class WriteJob:
    call: Callable[[], Any]
    flush: bool  # its commit waits for the disk (see GroupWriter)


class GroupWriter(BatchThread[WriteJob, tuple[bool, Any]]):
    """One thread runs the server's store writes; the writes that queue while it commits go in
    the next transaction together, each in its own savepoint, so one commit (one fsync) serves
    several sessions. A session's reply waits for the commit that holds its change; a write that
    fails rolls back its savepoint only. Were the batch's commit itself to fail, nothing of it is
    stored and each write is run again in a transaction of its own.

    Besides the commit cost, this keeps writers from queueing on the database in the read
    threads: on SQLite, which admits one writer, they would block the reads behind them and
    sleep in the busy handler's back-off instead of being woken when the lock frees.

    Like Dovecot's mail_fsync=optimized (its default), a batch of nothing but flag changes,
    expunges and \\Recent claims commits without waiting for the disk flush
    (store.durability.flush_mode_keep): a crash of the process loses none of it, a power failure
    may lose the last of them, never a message. A batch holding an APPEND, COPY, MOVE or folder
    change waits for the flush, which also makes every commit before it durable.
    YUBIN_IMAP_FSYNC=always makes every batch wait.
    """

    def __init__(self, batch_max: int = WRITE_BATCH_MAX) -> None:
        super().__init__(name="imap-db-writer", batch_max=batch_max)

    async def run(self, job: Callable[[], T], *, flush: bool = True) -> T:
        ok, value = await self.submit(WriteJob(job, flush or settings.YUBIN_IMAP_FSYNC == "always"))
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]  # the job's own result

    def batch_guard(self) -> AbstractContextManager[object]:
        # On SQLite the database's write lock is shared with the other agents processes and the
        # SMTP delivery thread: waiting on it hands the database over the moment it is free,
        # where SQLite's busy handler would sleep 1-100 ms between tries. The batch is taken
        # once the lock is held, so the writes queued while it was awaited go in it.
        return database_write_lock()

    def run_batch(self, jobs: list[WriteJob]) -> list[tuple[bool, Any]]:
        # The mode stays as the last batch left it: a statement only when it changes. On SQLite
        # a batch that must be durable commits without the flush and is flushed after the write
        # lock is released (after_batch), so the other processes' writers need not wait for it.
        flush = any(job.flush for job in jobs)
        try:
            flush_mode_keep(flush and not commits_flush_after_lock())
        except DatabaseError as error:
            db_connection.close()
            return [(False, error) for _ in jobs]
        return self._execute([job.call for job in jobs])

    def after_batch(self, jobs: list[WriteJob], outcomes: list[tuple[bool, Any]]) -> list[tuple[bool, Any]]:
        if not any(job.flush for job in jobs) or not commits_flush_after_lock():
            return outcomes
        try:
            commit_flush()
        except OSError as error:
            log.exception("the database's log could not be flushed; the batch's commands fail")
            return [(False, error) for _ in jobs]
        return outcomes

    def _execute(self, jobs: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        if len(jobs) == 1:
            return [_attempt(jobs[0])]
        outcomes: list[tuple[bool, Any]] = []
        try:
            with transaction.atomic():
                for job in jobs:
                    outcomes.append(_attempt(job, savepoint=True))
        except Exception:
            log.warning("batched store writes failed to commit; running them one by one", exc_info=True)
            db_connection.close_if_unusable_or_obsolete()
            return [_attempt(job) for job in jobs]
        return outcomes


def _attempt(job: Callable[[], Any], *, savepoint: bool = False) -> tuple[bool, Any]:
    try:
        if savepoint:
            with transaction.atomic():
                return True, job()
        return True, job()
    except Exception as error:
        if isinstance(error, DatabaseError) and not savepoint:
            db_connection.close_if_unusable_or_obsolete()
        return False, error


class ReadThreads:
    """The threads that run store reads for the sessions: a job goes on one queue, a thread runs
    it and hands the outcome to the caller's loop in a single call. Lighter per call than
    run_in_executor, whose chained futures cost more than a short query.

    As few threads as keep up: one to start with, another (up to `workers`) only when a job has
    waited GROW_AFTER_SECONDS for one to be free, so a slow read (a SEARCH of a large folder)
    does not hold up the other sessions. Threads contend for the GIL with the event loop: in the
    long-lived mix of bench/imap, 8 threads always at hand cost 15-20% more CPU per command
    than one or two. Each thread keeps its own database connection."""

    GROW_AFTER_SECONDS = 0.002

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job
        self._threads: list[threading.Thread] = []

    async def run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((call, loop, future))
        if not self._threads:
            self._grow()
        elif not self._idle and len(self._threads) < self.workers:
            loop.call_later(self.GROW_AFTER_SECONDS, self._grow)
        return await future

    def _grow(self) -> None:
        """Start a thread when jobs wait and none is idle (and the limit allows)."""
        with self._lock:
            if self._jobs.qsize() and not self._idle and len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"imap-db-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                self._idle += 1  # counted before it starts, so a burst starts no more than needed
                thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        try:
            while True:  # idle here: counted by _grow at the start, then after each job
                item = jobs.get()
                with self._lock:
                    self._idle -= 1
                if item is None:
                    return
                call, loop, future = item
                try:
                    outcome: tuple[bool, Any] = (True, call())
                except BaseException as error:  # handed to the caller, whatever it is
                    outcome = (False, error)
                try:
                    loop.call_soon_threadsafe(_deliver, future, outcome)
                except RuntimeError:  # the caller's loop is closed
                    pass
                with self._lock:
                    self._idle += 1
        finally:
            db_connection.close()

    def shutdown(self) -> None:
        """Let the queued jobs finish, then end every thread (each closing its connection)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)


def _deliver(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class DatabasePool:
    """The threads that run store calls for every session of a server: reads on a pool, writes
    through the group writer."""

    def __init__(self, workers: int) -> None:
        self.reads = ReadThreads(workers)
        self.workers = workers
        self.writer = GroupWriter()
        # \Recent claims waiting in the writer's queue: folder id -> highest UID claimed. The
        # event loop adds to it, the writer takes from it.
        self.claims: dict[int, int] = {}
        self.claims_lock = threading.Lock()

    def claim_store(self, folder_id: int) -> tuple[int, int] | None:
        """On the writer: store the folder's claims made up to now (later ones queue a new write)."""
        with self.claims_lock:
            upto = self.claims.pop(folder_id)
        return folder_recent_claim(folder_id=folder_id, upto_uid=upto)

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.reads.run(lambda: _call(function, args, kwargs))

    async def write(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call that writes, committed by the group writer (see GroupWriter)."""
        return await self.writer.run(lambda: function(*args, **kwargs))

    async def write_state(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A write of message state only (flags, expunges, \\Recent claims), never of mail: its
        commit need not wait for the disk flush (see GroupWriter)."""
        return await self.writer.run(lambda: function(*args, **kwargs), flush=False)

    def shutdown(self) -> None:
        self.writer.stop()
        self.reads.shutdown()


def _call(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return function(*args, **kwargs)
    except DatabaseError:
        db_connection.close_if_unusable_or_obsolete()
        raise


class Session:
    def __init__(self, conn: Connection, server: Any) -> None:
        self.conn = conn
        self.server = server  # agents.imap.server.ImapServer
        self.db = server.db
        self.state = NOT_AUTHENTICATED
        self.account_id: int | None = None
        self.address = ""
        self.view: FolderView | None = None
        self.enabled: set[str] = set()
        self.search_result: list[int] = []  # SEARCHRES "$" (RFC 5182): UIDs, emptied by SELECT/EXAMINE
        self.client_id: dict[str, str] = {}
        self.changes: asyncio.Queue[Change] | None = None
        self.unsubscribe: Callable[[], None] | None = None
        self.implicit_tls = conn.tls
        self.compressed = False
        # The read timeout (autologout, RFC 3501 §5.4): one watchdog timer per session, re-armed
        # as it fires, instead of a timeout scheduled and cancelled around every command line.
        self._reading_since: float | None = None  # loop time a readline began waiting, if it is
        self._timed_out = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    # --- output -----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.conn.write(data)

    def untagged(self, text: str) -> None:
        self.conn.write(b"* " + text.encode("utf-8", "surrogateescape") + b"\r\n")

    # --- names ------------------------------------------------------------------------------

    @property
    def utf8(self) -> bool:
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def rev2(self) -> bool:
        """ENABLE IMAP4rev2 was sent: no \\Recent, no RECENT or UNSEEN on SELECT (RFC 9051 Appendix E)."""
        return "IMAP4REV2" in self.enabled

    def flags_of(self, view: FolderView, index: int) -> bytes:
        """The FLAGS list of the view's message at index as this session shows it: with
        \\Recent when the session holds it, unless it speaks IMAP4rev2."""
        columns = view.columns
        uid = columns.uids[index]
        return flags_bytes(columns.flags[index], columns.keywords.get(uid, ()), uid in view.recent and not self.rev2)

    def mailbox_in(self, raw: str) -> str:
        """A mailbox name from the wire to the store's Unicode form (RFC 3501 §5.1.3, RFC 6855 §3)."""
        if self.utf8:
            name = raw
        else:
            try:
                name = utf7_decode(raw)
            except Utf7Error as error:
                raise No(f"Invalid mailbox name: {error}", "CANNOT") from None
        head, sep, tail = name.partition("/")
        return "INBOX" + sep + tail if head.upper() == "INBOX" else name

    def mailbox_out(self, name: str) -> bytes:
        return response.quote(name if self.utf8 else utf7_encode(name))

    # --- capabilities ----------------------------------------------------------------------

    def plaintext_allowed(self) -> bool:
        return self.conn.tls or self.server.plaintext_allowed(self.conn.peer_ip)

    def capabilities(self) -> str:
        words = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT"]
        words += ["CHILDREN", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "UIDPLUS", "MOVE"]
        words += ["CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY"]
        words += ["THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "QUOTA", "QUOTA=RES-STORAGE"]
        words += [f"APPENDLIMIT={limits.append_limit()}", "UTF8=ACCEPT", "BINARY", "STATUS=SIZE"]
        if not self.compressed:
            words.append("COMPRESS=DEFLATE")
        if self.state == NOT_AUTHENTICATED:
            if not self.conn.tls:
                words.append("STARTTLS")
            words.append("SASL-IR")
            if self.plaintext_allowed():
                words += ["AUTH=PLAIN", "AUTH=OAUTHBEARER"]
            else:
                words.append("LOGINDISABLED")
        return " ".join(words)

    # --- main loop --------------------------------------------------------------------------

    async def run(self) -> None:
        self.untagged(f"OK [CAPABILITY {self.capabilities()}] {response.GREETING}")
        try:
            await self.conn.flush()
            while self.state != LOGOUT:
                data = await self._read_command()
                if data is None:
                    continue
                await self.dispatch(data)
                await self.conn.flush()
        except (Closed, ConnectionError, asyncio.IncompleteReadError):
            pass
        except TimeoutError:
            await self._bye(response.AUTOLOGOUT)
        except Bye as error:
            await self._bye(error.text)
        finally:
            self.close()

    async def _bye(self, text: str) -> None:
        try:
            self.untagged(f"BYE {text}")
            await asyncio.wait_for(self.conn.flush(), 5)
        except Exception:  # noqa: S110 - the peer may be gone already
            pass

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
            self._task = None
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None
        self.server.session_closed(self)
        self.conn.close()

    def timeout(self) -> float:
        return limits.PREAUTH_TIMEOUT_SECONDS if self.state == NOT_AUTHENTICATED else limits.AUTOLOGOUT_SECONDS

    async def readline(self, limit: int = limits.MAX_LINE_LENGTH) -> bytes:
        """One line from the client; TimeoutError when it sends none within timeout()."""
        loop = asyncio.get_running_loop()
        if self._watchdog is None:
            self._task = asyncio.current_task()
            self._watchdog = loop.call_later(self.timeout(), self._watch)
        self._reading_since = loop.time()
        try:
            return await self.conn.readline(limit)
        except asyncio.CancelledError:
            if not self._timed_out:
                raise
            self._timed_out = False
            if self._task is not None:
                self._task.uncancel()
            raise TimeoutError from None
        finally:
            self._reading_since = None

    def _watch(self) -> None:
        if self._task is None or self._task.done():
            self._watchdog = None
            return
        loop = asyncio.get_running_loop()
        waited = 0.0 if self._reading_since is None else loop.time() - self._reading_since
        left = self.timeout() - waited
        if left <= 0:
            self._timed_out = True
            self._task.cancel()
            left = self.timeout()
        self._watchdog = loop.call_later(max(left, 0.05), self._watch)

    async def _read_command(self) -> bytes | None:
        """A whole command with its literals inline; None when it was refused (reply already sent)."""
        try:
            line = await self.readline()
        except LineTooLong:
            self.send(b"* BAD [TOOBIG] " + response.LINE_TOO_LONG.encode() + b"\r\n")
            await self.conn.flush()
            return None
        parts = [line]
        literal_total = 0
        while True:
            announced = literal_announced(line)
            if announced is None:
                break
            size, synchronising, _ = announced
            first = parts[0].split(b" ", 3)
            is_append = len(first) > 1 and first[1].upper() == b"APPEND"
            limit = limits.append_limit() if is_append else limits.MAX_COMMAND_LITERALS - literal_total
            if size > limit:
                tag = tag_of(parts[0])
                if synchronising:
                    code = "TOOBIG"
                    self.send(f"{tag} NO [{code}] {response.TOO_BIG}\r\n".encode())
                    await self.conn.flush()
                    return None
                raise Bye(response.TOO_BIG)
            if synchronising:
                self.send(b"+ OK\r\n")
                await self.conn.flush()
            literal_total += size
            parts.append(await asyncio.wait_for(self.conn.readexactly(size), self.timeout()))
            try:
                line = await self.readline()
            except LineTooLong:
                self.send(f"{tag_of(parts[0])} BAD {response.LINE_TOO_LONG}\r\n".encode())
                return None
            parts.append(line)
        data = b"".join(parts)
        if data.endswith(b"\r\n"):
            return data[:-2]
        return data[:-1] if data.endswith(b"\n") else data

    async def dispatch(self, data: bytes) -> None:
        try:
            parsed = parse_command(data)
        except ParseError as error:
            self.send(f"{tag_of(data)} BAD {error}\r\n".encode())
            return
        tag = parsed.tag
        spec = COMMANDS.get(parsed.name)
        if spec is None:
            self.send(f"{tag} BAD {response.UNKNOWN_COMMAND}\r\n".encode())
            return
        if self.state not in spec.states:
            self.send(f"{tag} BAD {response.WRONG_STATE}\r\n".encode())
            return
        request = Request(tag=tag, name=parsed.name, args=Args(parsed.args))
        base = parsed.name.removeprefix("UID ")
        try:
            text = await spec.handler(self, request)
            if text == REPLIED:
                return
            if self.state == SELECTED and base != "IDLE":
                await self.announce(
                    allow_expunge=request.uid or base not in NO_EXPUNGE_COMMANDS,
                    force=base in POLL_COMMANDS,
                )
            self.send(f"{tag} OK {text or base + ' ' + response.COMPLETED}\r\n".encode("utf-8", "surrogateescape"))
        except No as error:
            self.send(error.line(tag, "NO"))
        except (Bad, ParseError, SeqSetError) as error:
            self.send(error.line(tag, "BAD") if isinstance(error, Bad) else f"{tag} BAD {error}\r\n".encode())
        except Bye:
            raise
        except StoreError as error:
            self.send(No(str(error), _store_code(error)).line(tag, "NO"))
        except (Closed, ConnectionError, TimeoutError):
            raise
        except Exception:
            log.exception("IMAP command %s failed", parsed.name)
            self.send(No(response.SERVER_ERROR, "SERVERBUG").line(tag, "NO"))

    # --- authentication ---------------------------------------------------------------------

    async def authenticated(self, account_id: int, address: str) -> None:
        allowed = self.server.account_connection_add(self, account_id)
        if not allowed:
            raise No(response.TOO_MANY_CONNECTIONS, "LIMIT")
        self.account_id = account_id
        self.address = address
        self.state = AUTHENTICATED
        self.changes, self.unsubscribe = subscribe_async(asyncio.get_running_loop(), account_id)

    # --- selected folder --------------------------------------------------------------------

    def require_view(self) -> FolderView:
        if self.view is None:
            raise Bad(response.NO_SELECTED)
        return self.view

    async def folder_meta(self) -> FolderMeta:
        """The selected folder's cached metadata, covering every UID of the view."""
        view = self.require_view()
        uids = view.columns.uids
        need = uids[-1] if uids else 0
        meta = META.get(view.folder_id, view.uid_validity)
        if meta is None or meta.checked_uid < need:
            meta = await self.db.run(META.load, view.folder_id, view.uid_validity, need)
        return meta

    def deselect(self) -> None:
        self.view = None
        if self.state == SELECTED:
            self.state = AUTHENTICATED

    def changes_pending(self) -> tuple[int, bool]:
        """Drain the change queue: (the highest MODSEQ announced for the selected folder, True when
        an event needs the store read, e.g. the folder was renamed or deleted)."""
        if self.changes is None or self.view is None:
            return 0, False
        need, read = 0, False
        folder_id = self.view.folder_id
        while not self.changes.empty():
            change = self.changes.get_nowait()
            if change.folder_id == folder_id:
                need = max(need, change.modseq)
                read = read or change.kind not in DATA_CHANGES or not change.modseq
        return need, read

    async def view_update(self, *, force: bool = False) -> Update:
        """Bring the selected folder's view up to date: with force, with everything committed
        before now (NOOP, CHECK); otherwise with the changes announced by events. An event
        means the change is committed, so when another session of this process has read it
        already, it is applied in memory without a trip to a DB thread; and a NOOP when nothing
        was committed since the folder was read needs no trip either."""
        view = self.require_view()
        need, read = self.changes_pending()
        update: Update | None = Update()
        if force and not read:
            update = view.catch_up_all()
            if update is None:
                update = await self.db.run(view.refresh)
        elif force or read:
            update = await self.db.run(view.refresh)
        elif need > view.columns.modseq:
            update = view.catch_up(need)
            if update is None:
                update = await self.db.run(view.refresh, need)
        if update is None:
            self.deselect()
            raise Bye("Selected mailbox was deleted or renamed")
        if update.added:
            await self.recent_claim(view)
        return update

    async def recent_claim(self, view: FolderView) -> None:
        """Mark the view's unclaimed messages \\Recent in this session (RFC 3501 §2.3.2): a
        read-write session takes them, so no later session sees them \\Recent; a read-only one
        only looks."""
        high = view.recent_unclaimed()
        if high is None:
            return
        if view.read_only:
            view.recent.add(view.recent_from(), high)
            return
        folder_id = view.folder_id
        # Taken in this process at once (the event loop is its only claimer); the store learns it
        # through the writer without this session waiting, so other processes see it a moment later.
        view.recent.add(view.recent_from(), high)
        RECENT_CLAIMED[folder_id] = high + 1
        # One write per folder waiting in the writer's queue: a claim made meanwhile only raises
        # the UID that write stores (claims of one folder only ever grow).
        db = self.db
        with db.claims_lock:
            queued = folder_id in db.claims
            db.claims[folder_id] = max(high, db.claims.get(folder_id, 0))
        if queued:
            return
        claim = asyncio.ensure_future(db.write_state(db.claim_store, folder_id))
        _CLAIMS.add(claim)
        claim.add_done_callback(_claim_done)

    async def announce(self, *, allow_expunge: bool, force: bool = False) -> None:
        """Tell the client what changed in the selected folder (RFC 3501 §7.3.1, §7.4.1)."""
        view = self.view
        if view is None:
            return
        update = await self.view_update(force=force)
        self.send_updates(view, update, allow_expunge=allow_expunge)

    def send_updates(self, view: FolderView, update: Update, *, allow_expunge: bool) -> None:
        if allow_expunge and view.pending_expunge:
            self.send_expunges(view, view.pending_expunge)
            view.pending_expunge = set()
        if update.added:
            self.untagged(f"{view.exists} EXISTS")
            if not self.rev2:  # RFC 3501 §7.3.2: RECENT comes when new messages arrive
                self.untagged(f"{view.recent_count()} RECENT")
        if update.flag_changes:
            columns = view.columns
            condstore = self.condstore
            for uid in update.flag_changes:
                index = columns.position(uid)
                if index < 0 or uid in view.pending_expunge:
                    continue
                line = b"* %d FETCH (UID %d FLAGS %s" % (index + 1, uid, self.flags_of(view, index))
                if condstore:
                    line += b" MODSEQ (%d)" % columns.modseqs[index]
                self.send(line + b")\r\n")

    def send_expunges(self, view: FolderView, uids: set[int]) -> None:
        present = [uid for uid in uids if view.columns.position(uid) >= 0]
        if not present:
            return
        if "QRESYNC" in self.enabled:
            self.untagged(f"VANISHED {seqset_format(present)}")
        else:
            positions = sorted((view.columns.position(uid) for uid in present), reverse=True)
            for position in positions:
                self.send(b"* %d EXPUNGE\r\n" % (position + 1))
        columns_remove(view.columns, set(present))

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    def condstore_enable(self) -> None:
        """A CONDSTORE enabling command (RFC 7162 §3.1): the first one while a mailbox is
        selected tells that mailbox's HIGHESTMODSEQ, as Dovecot does, from which the client's
        MODSEQ tracking starts."""
        if self.condstore:
            return
        self.enabled.add("CONDSTORE")
        if self.view is not None:
            self.untagged(f"OK [HIGHESTMODSEQ {self.view.highest_modseq()}] Highest")

    def resolve_set(self, text: str, *, uid: bool) -> list[int]:
        """0-based positions in the view named by a sequence set or UID set (RFC 3501 §6.4.8)."""
        view = self.require_view()
        columns = view.columns
        if text == "$":
            saved = self.search_result
            return sorted(i for i in (columns.position(u) for u in saved) if i >= 0)
        if ascii_digits(text) and text[0] != "0" and len(text) < 10:  # one number: the usual case
            number = int(text)
            if uid:
                index = columns.position(number)
                return [index] if index >= 0 else []
            if number > len(columns.uids):
                raise Bad("Invalid message sequence number")
            return [number - 1]
        seqset = SeqSet.parse(text)
        if uid:
            star = columns.uids[-1] if columns.uids else 0
            return select_positions(columns.uids, seqset.resolve(star))
        count = len(columns.uids)
        if count == 0:
            # RFC 9051 §6.4.8 (and Dovecot): no sequence number is valid in an empty mailbox,
            # "*" included; UID sets may name nothing.
            raise Bad("No messages in the mailbox")
        positions: list[int] = []
        for low, high in seqset.resolve(count):
            if high > count and not seqset.has_star():
                raise Bad("Invalid message sequence number")
            positions.extend(range(max(low, 1) - 1, min(high, count)))
        return positions


def _store_code(error: StoreError) -> str:
    if isinstance(error, NotFound):
        return "NONEXISTENT"
    if isinstance(error, AlreadyExists):
        return "ALREADYEXISTS"
    if isinstance(error, QuotaExceeded):
        return "OVERQUOTA"
    if isinstance(error, LimitReached):
        return "LIMIT"
    if isinstance(error, InvalidName):
        return "CANNOT"
    return "SERVERBUG"


__all__ = ["ImapError", "Session", "flags_bytes"]
