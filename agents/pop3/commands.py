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
from agents.pop3.wire import WireEncoder, dot_stuff, encode_message, top_lines
from agents.popbeforesmtp import pbs_record
from agents.storecalls import store_call
from store.services.log import login_record

log = logging.getLogger(__name__)

INLINE_READ_LIMIT = 256 * 1024  # smaller messages are read on the loop: a thread hop costs more
SASL_MECHANISMS = ("PLAIN",)

Handler = Callable[[Session, Command], Awaitable[None]]


@dataclass(frozen=True)
class CommandEntry:
    handler: Handler
    states: frozenset[State]


AUTHORIZATION = frozenset({State.AUTHORIZATION})
TRANSACTION = frozenset({State.TRANSACTION})
ANY_STATE = AUTHORIZATION | TRANSACTION


# --- AUTHORIZATION state ------------------------------------------------------------------------


async def cmd_capa(session: Session, command: Command) -> None:
    """CAPA (RFC 2449 §5): what this state offers; USER and SASL only where a password may be sent."""
    exact_arguments(command, 0, 0)
    lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
    if session.state is State.AUTHORIZATION:
        if session.plaintext_allowed():
            lines += ["USER", "SASL " + " ".join(SASL_MECHANISMS)]
        if session.stls_offered():
            lines.append("STLS")
    lines.append(f"IMPLEMENTATION {replies.IMPLEMENTATION}")
    await session.multiline(replies.CAPA_FOLLOWS, lines)


async def cmd_stls(session: Session, command: Command) -> None:
    """STLS (RFC 2595 §4): only in AUTHORIZATION, once, with nothing pipelined behind it."""
    exact_arguments(command, 0, 0)
    if session.tls_active:
        await session.error(replies.ALREADY_TLS)
        return
    if session.tls_context is None:
        await session.error(replies.TLS_UNAVAILABLE)
        return
    if session.input_pending():
        await session.reply(replies.TLS_PIPELINED)
        session.closing = True
        return
    await session.reply(replies.STLS_BEGIN)
    await session.tls_start()


async def cmd_user(session: Session, command: Command) -> None:
    """USER (RFC 1939 §7)."""
    if not session.plaintext_allowed():
        await session.error(replies.PLAINTEXT_DISALLOWED)
        return
    name = command.argument.strip()
    if not name:
        raise ParseError("USER takes a user name")
    session.pending_user = name
    await session.reply(replies.USER_OK)


async def cmd_pass(session: Session, command: Command) -> None:
    """PASS (RFC 1939 §7): the whole rest of the line is the password, spaces included."""
    if not session.plaintext_allowed():
        await session.error(replies.PLAINTEXT_DISALLOWED)
        return
    if session.pending_user is None:
        await session.error(replies.USER_FIRST)
        return
    user, session.pending_user = session.pending_user, None
    if not command.argument:
        raise ParseError("PASS takes a password")
    await login(session, user, command.argument)


async def cmd_auth(session: Session, command: Command) -> None:
    """AUTH (RFC 5034 §4) with PLAIN (RFC 4616), initial response allowed; bare AUTH lists mechanisms."""
    arguments = exact_arguments(command, 0, 2)
    if not arguments:
        await session.multiline(replies.AUTH_MECHANISMS_FOLLOW, list(SASL_MECHANISMS))
        return
    if arguments[0].upper() not in SASL_MECHANISMS:
        await session.error(replies.AUTH_UNSUPPORTED)
        return
    if not session.plaintext_allowed():
        await session.error(replies.PLAINTEXT_DISALLOWED)
        return
    if len(arguments) == 2:
        response = "" if arguments[1] == "=" else arguments[1]
    else:
        await session.reply(replies.SASL_CONTINUE)
        try:
            line = await session.line_read()
        except LineTooLong:
            await session.error(replies.AUTH_BAD_RESPONSE)
            return
        if line is None:
            session.closing = True
            return
        response = line.rstrip(b"\r\n").decode("ascii", "replace")
        if response == "*":
            await session.error(replies.AUTH_CANCELLED)
            return
    try:
        authzid, authcid, password = sasl_plain_decode(response)
    except ParseError:
        await session.error(replies.AUTH_BAD_RESPONSE)
        return
    if authzid and authzid.lower() != authcid.lower():
        await auth_failed(session)  # no proxy authorisation: acting as another user is refused
        return
    await login(session, authcid, password)


async def auth_failed(session: Session) -> None:
    session.auth_failures += 1
    await session.error(replies.AUTH_FAILED)
    if session.auth_failures >= MAX_AUTH_FAILURES:
        session.closing = True


async def login(session: Session, address: str, password: str) -> None:
    """Check the credentials, take the maildrop lock and the snapshot (RFC 1939 §8)."""
    try:
        account = await store_call(
            credentials_check, address=address, password=password, protocol="pop3", client_ip=session.client_ip
        )
    except Throttled:
        await session.reply(replies.AUTH_THROTTLED)
        session.closing = True
        return
    except Exception:  # the database or directory is down: say so, keep the connection
        log.exception("pop3: authentication of %s could not be checked", address)
        await session.reply(replies.AUTH_UNAVAILABLE)
        return
    if account is None:
        await auth_failed(session)
        return
    lock = MaildropLock(account.pk)
    try:
        acquired = await lock.acquire()
    except Exception:
        log.exception("pop3: maildrop lock of account %s failed", account.pk)
        await session.reply(replies.MAILDROP_FAILED)
        return
    if not acquired:
        await session.reply(replies.IN_USE)
        return
    try:
        maildrop = await store_call(maildrop_load, account_id=account.pk)
    except Exception:
        log.exception("pop3: snapshot of account %s failed", account.pk)
        maildrop = None
    if maildrop is None:
        await lock.release()
        await session.reply(replies.MAILDROP_FAILED)
        return
    session.account, session.maildrop, session.lock = account, maildrop, lock
    session.state = State.TRANSACTION
    try:
        await store_call(login_succeeded, address=account.address, client_ip=session.client_ip)
    except Exception:  # the login log and POP-before-SMTP are extras; a failure must not refuse mail
        log.exception("pop3: login of %s not recorded", account.address)
    await session.reply(replies.LOGGED_IN)


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


async def cmd_stat(session: Session, command: Command) -> None:
    """STAT (RFC 1939 §5): count and size of the messages not marked deleted."""
    exact_arguments(command, 0, 0)
    assert session.maildrop is not None
    live = session.maildrop.live()
    await session.reply(replies.stat_reply(len(live), sum(m.size for m in live)))


async def cmd_list(session: Session, command: Command) -> None:
    """LIST (RFC 1939 §5), with or without a message number."""
    arguments = exact_arguments(command, 0, 1)
    assert session.maildrop is not None
    if arguments:
        message, problem = _message(session, arguments[0])
        if message is None:
            await session.reply(problem or replies.NO_SUCH_MESSAGE)
            return
        await session.reply("+OK " + replies.scan_line(message.number, message.size))
        return
    lines = [replies.scan_line(m.number, m.size) for m in session.maildrop.live()]
    await session.multiline(replies.LIST_FOLLOWS, lines)


async def cmd_uidl(session: Session, command: Command) -> None:
    """UIDL (RFC 1939 §7): "<UIDVALIDITY>.<UID>", stable and the same pair IMAP shows."""
    arguments = exact_arguments(command, 0, 1)
    maildrop = session.maildrop
    assert maildrop is not None
    if arguments:
        message, problem = _message(session, arguments[0])
        if message is None:
            await session.reply(problem or replies.NO_SUCH_MESSAGE)
            return
        await session.reply("+OK " + replies.uid_line(message.number, maildrop.unique_id(message)))
        return
    lines = [replies.uid_line(m.number, maildrop.unique_id(m)) for m in maildrop.live()]
    await session.multiline(replies.UIDL_FOLLOWS, lines)


async def cmd_retr(session: Session, command: Command) -> None:
    """RETR (RFC 1939 §5): the message with CRLF line endings, dot-stuffed, streamed from its blob."""
    (number_text,) = exact_arguments(command, 1, 1)
    message, problem = _message(session, number_text)
    if message is None:
        await session.reply(problem or replies.NO_SUCH_MESSAGE)
        return
    header = (replies.RETR_FOLLOWS.format(size=message.size) + "\r\n").encode()
    if message.stored_size <= INLINE_READ_LIMIT:
        prefetched, session.prefetched = session.prefetched, None
        if prefetched is not None and prefetched[0] == message.number:
            body = prefetched[1]
        else:
            try:
                body = _encoded(message)
            except OSError:
                await _unreadable(session, message)
                return
        await session.send(header + body)
        _prefetch_next(session, message)
    elif not await _stream(session, message, header):
        return
    message.retrieved = True


def _encoded(message: MaildropMessage) -> bytes:
    return encode_message(message_read(message), crlf_clean=message.crlf_clean)


def _prefetch_next(session: Session, message: MaildropMessage) -> None:
    """Make the next message ready while the client reads this one: download clients RETR in
    order, and a reply ready before it is asked for takes the server's work off the round trip."""
    assert session.maildrop is not None
    following = session.maildrop.get(message.number + 1)
    if following is None or following.deleted or following.stored_size > INLINE_READ_LIMIT:
        return

    def prepare() -> None:
        try:
            session.prefetched = (following.number, _encoded(following))
        except OSError:
            session.prefetched = None  # RETR of it will say why

    asyncio.get_running_loop().call_soon(prepare)


async def _stream(session: Session, message: MaildropMessage, header: bytes) -> bool:
    try:
        handle = await asyncio.to_thread(open, message.path, "rb")
    except OSError:
        await _unreadable(session, message)
        return False
    encoder = WireEncoder()
    try:
        await session.send(header)
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
            await session.send(encoder.feed(chunk))
        await session.send(encoder.finish())
    except OSError:
        # The +OK is out; the message cannot be completed, so the connection cannot go on.
        log.exception("pop3: blob %s failed mid-message", message.blob_id)
        session.closing = True
        return False
    finally:
        handle.close()
    return True


async def _unreadable(session: Session, message: MaildropMessage) -> None:
    log.error("pop3: blob %s of uid %s is unreadable", message.blob_id, message.uid)
    await session.reply(replies.MESSAGE_UNREADABLE.format(number=message.number))


async def cmd_top(session: Session, command: Command) -> None:
    """TOP (RFC 1939 §7): the header, the blank line and the first n body lines."""
    number_text, lines_text = exact_arguments(command, 2, 2)
    message, problem = _message(session, number_text)
    if message is None:
        await session.reply(problem or replies.NO_SUCH_MESSAGE)
        return
    body_lines = line_count_parse(lines_text)
    try:
        if message.stored_size <= INLINE_READ_LIMIT:
            data = message_read(message)
        else:
            data = await asyncio.to_thread(message_read, message)
    except OSError:
        await _unreadable(session, message)
        return
    top = top_lines(data, body_lines)
    await session.send((replies.TOP_FOLLOWS + "\r\n").encode() + dot_stuff(top) + b".\r\n")


async def cmd_dele(session: Session, command: Command) -> None:
    """DELE (RFC 1939 §5): marks only; the store changes at QUIT (UPDATE state)."""
    (number_text,) = exact_arguments(command, 1, 1)
    message, problem = _message(session, number_text)
    if message is None:
        await session.reply(problem or replies.NO_SUCH_MESSAGE)
        return
    message.deleted = True
    await session.reply(replies.DELE_OK)


async def cmd_rset(session: Session, command: Command) -> None:
    """RSET (RFC 1939 §5): unmark every message marked deleted."""
    exact_arguments(command, 0, 0)
    assert session.maildrop is not None
    restored = 0
    for message in session.maildrop.messages:
        restored += message.deleted
        message.deleted = False
    await session.reply(replies.RSET_OK.format(count=restored))


async def cmd_noop(session: Session, command: Command) -> None:
    """NOOP (RFC 1939 §5)."""
    exact_arguments(command, 0, 0)
    await session.reply(replies.NOOP_OK)


async def cmd_quit(session: Session, command: Command) -> None:
    """QUIT (RFC 1939 §4 and §6): in TRANSACTION it enters UPDATE and applies the deletions."""
    session.closing = True
    if session.state is State.AUTHORIZATION or session.maildrop is None:
        await session.reply(replies.BYE_AUTHORIZATION)
        return
    try:
        remaining = await store_call(maildrop_commit, maildrop=session.maildrop)
    except Exception:
        log.exception("pop3: UPDATE failed for folder %s", session.maildrop.folder_id)
        await session.lock_release()
        await session.reply(replies.UPDATE_FAILED)
        return
    # Released before the reply, so a client that logs in again right after QUIT finds it free.
    await session.lock_release()
    await session.reply(replies.BYE_UPDATE.format(count=remaining))


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
