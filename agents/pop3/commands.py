"""POP3 commands, one handler each, registered in COMMANDS with the states they are allowed in.

RFC 1939 (POP3), RFC 2449 (CAPA, response codes), RFC 2595 §4 (STLS), RFC 5034 (AUTH with SASL
PLAIN, RFC 4616). APOP is not offered: it needs the password stored in the clear.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.auth import Throttled, credentials_check
from agents.linestream import LineTooLong
from agents.pop3 import replies
from agents.pop3.maildrop import (
    READ_CHUNK,
    MaildropLock,
    MaildropMessage,
    maildrop_commit,
    maildrop_load,
    message_read,
)
from agents.pop3.parser import (
    Command,
    ParseError,
    exact_arguments,
    line_count_parse,
    message_number_parse,
    sasl_plain_decode,
)
from agents.pop3.session import MAX_AUTH_FAILURES, Session, State
from agents.pop3.wire import WireEncoder, top_lines, wire_parts
from agents.popbeforesmtp import pbs_record
from agents.storecalls import store_call
from store.blobs import blob_reads_anywhere
from store.linebreaks import dot_stuff
from store.services.log import login_record

log = logging.getLogger(__name__)

INLINE_READ_LIMIT = 512 * 1024  # smaller messages are read on the loop: a thread hop costs more
SASL_MECHANISMS = ("PLAIN",)

# A handler answers at once and returns None, or returns a coroutine that finishes the command
# (the session takes no further command until it has).
Handler = Callable[[Session, Command], Awaitable[None] | None]


@dataclass(frozen=True)
class CommandEntry:
    handler: Handler
    states: frozenset[State]


AUTHORIZATION = frozenset({State.AUTHORIZATION})
TRANSACTION = frozenset({State.TRANSACTION})
ANY_STATE = AUTHORIZATION | TRANSACTION


# --- AUTHORIZATION state ------------------------------------------------------------------------


def cmd_capa(session: Session, command: Command) -> None:
    """CAPA (RFC 2449 §5): what this state offers; USER and SASL only where a password may be sent."""
    exact_arguments(command, 0, 0)
    lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
    if session.state is State.AUTHORIZATION:
        if session.plaintext_allowed():
            lines += ["USER", "SASL " + " ".join(SASL_MECHANISMS)]
        if session.stls_offered():
            lines.append("STLS")
    lines.append(f"IMPLEMENTATION {replies.IMPLEMENTATION}")
    session.multiline(replies.CAPA_FOLLOWS, lines)


async def cmd_stls(session: Session, command: Command) -> None:
    """STLS (RFC 2595 §4): only in AUTHORIZATION, once, with nothing pipelined behind it."""
    exact_arguments(command, 0, 0)
    if session.tls_active:
        session.error(replies.ALREADY_TLS)
        return
    if session.tls_context is None:
        session.error(replies.TLS_UNAVAILABLE)
        return
    if session.input_pending():
        session.reply(replies.TLS_PIPELINED)
        session.closing = True
        return
    session.reply(replies.STLS_BEGIN)
    await session.tls_start()


def cmd_user(session: Session, command: Command) -> None:
    """USER (RFC 1939 §7)."""
    if not session.plaintext_allowed():
        session.error(replies.PLAINTEXT_DISALLOWED)
        return
    name = command.argument.strip()
    if not name:
        raise ParseError("USER takes a user name")
    session.pending_user = name
    session.reply(replies.USER_OK)


def cmd_pass(session: Session, command: Command) -> Awaitable[None] | None:
    """PASS (RFC 1939 §7): the whole rest of the line is the password, spaces included."""
    if not session.plaintext_allowed():
        session.error(replies.PLAINTEXT_DISALLOWED)
        return None
    if session.pending_user is None:
        session.error(replies.USER_FIRST)
        return None
    user, session.pending_user = session.pending_user, None
    if not command.argument:
        raise ParseError("PASS takes a password")
    return login(session, user, command.argument)


async def cmd_auth(session: Session, command: Command) -> None:
    """AUTH (RFC 5034 §4) with PLAIN (RFC 4616), initial response allowed; bare AUTH lists mechanisms."""
    arguments = exact_arguments(command, 0, 2)
    if not arguments:
        session.multiline(replies.AUTH_MECHANISMS_FOLLOW, list(SASL_MECHANISMS))
        return
    if arguments[0].upper() not in SASL_MECHANISMS:
        session.error(replies.AUTH_UNSUPPORTED)
        return
    if not session.plaintext_allowed():
        session.error(replies.PLAINTEXT_DISALLOWED)
        return
    if len(arguments) == 2:
        response = "" if arguments[1] == "=" else arguments[1]
    else:
        session.reply(replies.SASL_CONTINUE)
        try:
            line = await session.line_read()
        except LineTooLong:
            session.error(replies.AUTH_BAD_RESPONSE)
            return
        if line is None:
            session.closing = True
            return
        response = line.rstrip(b"\r\n").decode("ascii", "replace")
        if response == "*":
            session.error(replies.AUTH_CANCELLED)
            return
    try:
        authzid, authcid, password = sasl_plain_decode(response)
    except ParseError:
        session.error(replies.AUTH_BAD_RESPONSE)
        return
    if authzid and authzid.lower() != authcid.lower():
        auth_failed(session)  # no proxy authorisation: acting as another user is refused
        return
    await login(session, authcid, password)


def auth_failed(session: Session) -> None:
    session.auth_failures += 1
    session.error(replies.AUTH_FAILED)
    if session.auth_failures >= MAX_AUTH_FAILURES:
        session.closing = True


async def login(session: Session, address: str, password: str) -> None:
    """Check the credentials, take the maildrop lock and the snapshot (RFC 1939 §8)."""
    try:
        account = await store_call(
            credentials_check, address=address, password=password, protocol="pop3", client_ip=session.client_ip
        )
    except Throttled:
        session.reply(replies.AUTH_THROTTLED)
        session.closing = True
        return
    except Exception:  # the database or directory is down: say so, keep the connection
        log.exception("pop3: authentication of %s could not be checked", address)
        session.reply(replies.AUTH_UNAVAILABLE)
        return
    if account is None:
        auth_failed(session)
        return
    lock = MaildropLock(account.pk)
    try:
        acquired = await lock.acquire()
    except Exception:
        log.exception("pop3: maildrop lock of account %s failed", account.pk)
        session.reply(replies.MAILDROP_FAILED)
        return
    if not acquired:
        session.reply(replies.IN_USE)
        return
    try:
        maildrop = await store_call(maildrop_load, account_id=account.pk)
    except Exception:
        log.exception("pop3: snapshot of account %s failed", account.pk)
        maildrop = None
    if maildrop is None:
        await lock.release()
        session.reply(replies.MAILDROP_FAILED)
        return
    session.account, session.maildrop, session.lock = account, maildrop, lock
    session.state = State.TRANSACTION
    try:
        await store_call(login_succeeded, address=account.address, client_ip=session.client_ip)
    except Exception:  # the login log and POP-before-SMTP are extras; a failure must not refuse mail
        log.exception("pop3: login of %s not recorded", account.address)
    session.reply(replies.LOGGED_IN)


def login_succeeded(*, address: str, client_ip: str | None) -> None:
    """Log the login (admin dashboard) and open the POP-before-SMTP window when configured."""
    login_record(address=address, client_ip=client_ip, protocol="pop3", success=True)
    pbs_record(client_ip, address)


# --- TRANSACTION state --------------------------------------------------------------------------


def _message(session: Session, text: str) -> tuple[MaildropMessage | None, str | None]:
    """The undeleted message a number names, or the -ERR line to answer."""
    assert session.maildrop is not None
    number = message_number_parse(text)
    message = session.maildrop.get(number)
    if message is None:
        return None, replies.NO_SUCH_MESSAGE.format(number=text)
    if message.deleted:
        return None, replies.MESSAGE_DELETED.format(number=number)
    return message, None


def cmd_stat(session: Session, command: Command) -> None:
    """STAT (RFC 1939 §5): count and size of the messages not marked deleted."""
    exact_arguments(command, 0, 0)
    assert session.maildrop is not None
    live = session.maildrop.live()
    session.reply(replies.stat_reply(len(live), sum(m.size for m in live)))


def cmd_list(session: Session, command: Command) -> None:
    """LIST (RFC 1939 §5), with or without a message number."""
    arguments = exact_arguments(command, 0, 1)
    assert session.maildrop is not None
    if arguments:
        message, problem = _message(session, arguments[0])
        if message is None:
            session.reply(problem or replies.NO_SUCH_MESSAGE)
            return
        session.reply("+OK " + replies.scan_line(message.number, message.size))
        return
    lines = [replies.scan_line(m.number, m.size) for m in session.maildrop.live()]
    session.multiline(replies.LIST_FOLLOWS, lines)


def cmd_uidl(session: Session, command: Command) -> None:
    """UIDL (RFC 1939 §7): "<UIDVALIDITY>.<UID>", stable and the same pair IMAP shows."""
    arguments = exact_arguments(command, 0, 1)
    maildrop = session.maildrop
    assert maildrop is not None
    if arguments:
        message, problem = _message(session, arguments[0])
        if message is None:
            session.reply(problem or replies.NO_SUCH_MESSAGE)
            return
        session.reply("+OK " + replies.uid_line(message.number, maildrop.unique_id(message)))
        return
    lines = [replies.uid_line(m.number, maildrop.unique_id(m)) for m in maildrop.live()]
    session.multiline(replies.UIDL_FOLLOWS, lines)


def cmd_retr(session: Session, command: Command) -> Awaitable[None] | None:
    """RETR (RFC 1939 §5): the message with CRLF line endings, dot-stuffed.

    A message up to INLINE_READ_LIMIT is answered at once: its bytes (read and laid out while the
    client read the previous one, or now) go to the socket in one gathered write, the dot-stuffing
    done by inserting "." parts between slices of them, so nothing is copied on the way. Larger
    messages are streamed from the blob in chunks read off the loop.
    """
    (number_text,) = exact_arguments(command, 1, 1)
    message, problem = _message(session, number_text)
    if message is None:
        session.reply(problem or replies.NO_SUCH_MESSAGE)
        return None
    header = (replies.RETR_FOLLOWS.format(size=message.size) + "\r\n").encode()
    if message.stored_size > INLINE_READ_LIMIT:
        return _stream(session, message, header)
    if not blob_reads_anywhere():
        return _retr_threaded(session, message, header)
    prefetched, session.prefetched = session.prefetched, None
    if prefetched is not None and prefetched[0] == message.number:
        parts = prefetched[1]
    else:
        try:
            parts = _parts(message)
        except OSError:
            _unreadable(session, message)
            return None
    parts[0] = header
    session.write_parts(parts)
    message.retrieved = True
    _prefetch_next(session, message)
    return None


async def _retr_threaded(session: Session, message: MaildropMessage, header: bytes) -> None:
    """RETR of a message read on a thread: one kept in a database server is read with a query."""
    try:
        parts = await asyncio.to_thread(_parts, message)
    except OSError:
        _unreadable(session, message)
        return
    parts[0] = header
    session.write_parts(parts)
    message.retrieved = True
    await session.drain()


def _parts(message: MaildropMessage) -> list[bytes | memoryview]:
    """The message's multi-line form as parts for one gathered write, the +OK line still to fill in."""
    data = message_read(message)
    return wire_parts(b"", data, crlf_clean=message.crlf_clean, dot_lines=message.dot_lines)


def _prefetch_next(session: Session, message: MaildropMessage) -> None:
    """Read and lay out the next message while the client reads this one: download clients RETR
    in order, and parts ready before they are asked for take the file read and the dot scan off
    the round trip."""
    assert session.maildrop is not None
    following = session.maildrop.get(message.number + 1)
    if following is None or following.deleted or following.stored_size > INLINE_READ_LIMIT:
        return
    if not blob_reads_anywhere():
        return

    def prepare() -> None:
        try:
            session.prefetched = (following.number, _parts(following))
        except OSError:
            session.prefetched = None  # RETR of it will say why

    session.loop.call_soon(prepare)


async def _stream(session: Session, message: MaildropMessage, header: bytes) -> None:
    try:
        handle = await asyncio.to_thread(open, message.path, "rb")
    except FileNotFoundError:  # kept in the database (a limit set higher than it was)
        await _retr_threaded(session, message, header)
        return
    except OSError:
        _unreadable(session, message)
        return
    encoder = WireEncoder()
    try:
        await session.send(header)
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
            await session.send(encoder.feed(chunk))
        await session.send(encoder.finish())
    except OSError:
        if session.closing:
            raise  # the connection is gone
        # The +OK is out; the message cannot be completed, so the connection cannot go on.
        log.exception("pop3: blob %s failed mid-message", message.blob_id)
        session.closing = True
        return
    finally:
        handle.close()
    message.retrieved = True


def _unreadable(session: Session, message: MaildropMessage) -> None:
    log.error("pop3: blob %s of uid %s is unreadable", message.blob_id, message.uid)
    session.reply(replies.MESSAGE_UNREADABLE.format(number=message.number))


def cmd_top(session: Session, command: Command) -> Awaitable[None] | None:
    """TOP (RFC 1939 §7): the header, the blank line and the first n body lines."""
    number_text, lines_text = exact_arguments(command, 2, 2)
    message, problem = _message(session, number_text)
    if message is None:
        session.reply(problem or replies.NO_SUCH_MESSAGE)
        return None
    body_lines = line_count_parse(lines_text)
    if message.stored_size > INLINE_READ_LIMIT or not blob_reads_anywhere():
        return _top_large(session, message, body_lines)
    try:
        data = message_read(message)
    except OSError:
        _unreadable(session, message)
        return None
    _top_send(session, data, body_lines)
    return None


async def _top_large(session: Session, message: MaildropMessage, body_lines: int) -> None:
    try:
        data = await asyncio.to_thread(message_read, message)
    except OSError:
        _unreadable(session, message)
        return
    _top_send(session, data, body_lines)
    await session.drain()


def _top_send(session: Session, data: bytes, body_lines: int) -> None:
    top = top_lines(data, body_lines)
    session.write((replies.TOP_FOLLOWS + "\r\n").encode() + dot_stuff(top) + b".\r\n")


def cmd_dele(session: Session, command: Command) -> None:
    """DELE (RFC 1939 §5): marks only; the store changes at QUIT (UPDATE state)."""
    (number_text,) = exact_arguments(command, 1, 1)
    message, problem = _message(session, number_text)
    if message is None:
        session.reply(problem or replies.NO_SUCH_MESSAGE)
        return
    message.deleted = True
    session.reply(replies.DELE_OK)


def cmd_rset(session: Session, command: Command) -> None:
    """RSET (RFC 1939 §5): unmark every message marked deleted."""
    exact_arguments(command, 0, 0)
    assert session.maildrop is not None
    restored = 0
    for message in session.maildrop.messages:
        restored += message.deleted
        message.deleted = False
    session.reply(replies.RSET_OK.format(count=restored, messages=replies.messages(restored)))


def cmd_noop(session: Session, command: Command) -> None:
    """NOOP (RFC 1939 §5)."""
    exact_arguments(command, 0, 0)
    session.reply(replies.NOOP_OK)


async def cmd_quit(session: Session, command: Command) -> None:
    """QUIT (RFC 1939 §4 and §6): in TRANSACTION it enters UPDATE and applies the deletions."""
    session.closing = True
    if session.state is State.AUTHORIZATION or session.maildrop is None:
        session.reply(replies.BYE_AUTHORIZATION)
        return
    try:
        remaining = await store_call(maildrop_commit, maildrop=session.maildrop)
    except Exception:
        log.exception("pop3: UPDATE failed for folder %s", session.maildrop.folder_id)
        await session.lock_release()
        session.reply(replies.UPDATE_FAILED)
        return
    # Released before the reply, so a client that logs in again right after QUIT finds it free.
    await session.lock_release()
    session.reply(replies.BYE_UPDATE.format(count=remaining, messages=replies.messages(remaining)))


COMMANDS: dict[str, CommandEntry] = {
    "CAPA": CommandEntry(cmd_capa, ANY_STATE),
    "QUIT": CommandEntry(cmd_quit, ANY_STATE),
    "STLS": CommandEntry(cmd_stls, AUTHORIZATION),
    "USER": CommandEntry(cmd_user, AUTHORIZATION),
    "PASS": CommandEntry(cmd_pass, AUTHORIZATION),
    "AUTH": CommandEntry(cmd_auth, AUTHORIZATION),
    "STAT": CommandEntry(cmd_stat, TRANSACTION),
    "LIST": CommandEntry(cmd_list, TRANSACTION),
    "UIDL": CommandEntry(cmd_uidl, TRANSACTION),
    "RETR": CommandEntry(cmd_retr, TRANSACTION),
    "TOP": CommandEntry(cmd_top, TRANSACTION),
    "DELE": CommandEntry(cmd_dele, TRANSACTION),
    "RSET": CommandEntry(cmd_rset, TRANSACTION),
    "NOOP": CommandEntry(cmd_noop, TRANSACTION),
}
