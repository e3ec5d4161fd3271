"""ManageSieve commands (RFC 5804 §2), one handler each, registered with the states they need.

Scripts are the account's own (store.services.sieve); PUTSCRIPT and CHECKSCRIPT validate with
the parser the MDA runs (agents.mda.sieve), so what is stored here is what delivery executes.
SASL: PLAIN (RFC 4616) through the one auth path and OAUTHBEARER (RFC 7628) with the webmail's
short-lived tokens.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.auth import Throttled, credentials_check, token_check
from agents.linestream import LineTooLong
from agents.managesieve import responses
from agents.managesieve.parser import (
    Atom,
    ParseError,
    String,
    Token,
    number_value,
    script_name_check,
    string_text,
)
from agents.managesieve.session import MAX_AUTH_FAILURES, Session
from agents.mda.sieve import MAX_REDIRECTS, SUPPORTED_EXTENSIONS, sieve_validate
from agents.storecalls import store_call
from store.errors import AlreadyExists, InvalidName, NotFound
from store.selectors.managesieve import sieve_script_content, sieve_scripts_of_account
from store.services.sieve import (
    MAX_SCRIPT_SIZE,
    MAX_SCRIPTS_PER_OWNER,
    sieve_script_activate,
    sieve_script_delete,
    sieve_script_put,
    sieve_script_rename,
)

log = logging.getLogger(__name__)

SASL_MECHANISMS = ("PLAIN", "OAUTHBEARER")

Handler = Callable[[Session, list[Token]], Awaitable[None]]


@dataclass(frozen=True)
class CommandEntry:
    handler: Handler
    authenticated: bool | None  # None: either state
    arguments: tuple[int, int]  # minimum, maximum


def capability_listing(session: Session) -> bytes:
    """RFC 5804 §1.7; SASL lists nothing where a secret may not be sent in the clear."""
    return responses.capability_lines(
        sasl=list(SASL_MECHANISMS) if session.plaintext_allowed() else [],
        starttls=session.starttls_offered(),
        sieve_extensions=sorted(SUPPORTED_EXTENSIONS),
        max_redirects=MAX_REDIRECTS,
    )


async def dispatch(session: Session, tokens: list[Token]) -> None:
    head = tokens[0]
    name = head.value.upper() if isinstance(head, Atom) else ""
    entry = COMMANDS.get(name)
    if entry is None:
        await session.error(responses.UNKNOWN_COMMAND)
        return
    if entry.authenticated is True and session.account is None:
        await session.error(responses.WRONG_STATE_AUTH)
        return
    if entry.authenticated is False and session.account is not None:
        await session.error(responses.WRONG_STATE_NOT_AUTH)
        return
    arguments = tokens[1:]
    minimum, maximum = entry.arguments
    if not minimum <= len(arguments) <= maximum:
        await session.error(f"Syntax error: {name} takes {minimum} to {maximum} arguments.")
        return
    try:
        await entry.handler(session, arguments)
    except ParseError as problem:
        await session.error(f"Syntax error: {problem}")
    except LineTooLong:
        await session.error(responses.LINE_TOO_LONG)
    except Exception:
        if session.closing:
            raise
        log.exception("managesieve: %s failed for %s", name, session.client_ip)
        await session.no(responses.INTERNAL_ERROR, "TRYLATER")


# --- any state ----------------------------------------------------------------------------------


async def cmd_capability(session: Session, arguments: list[Token]) -> None:
    """CAPABILITY (RFC 5804 §2.4)."""
    await session.capabilities_send()
    await session.ok(responses.DONE)


async def cmd_logout(session: Session, arguments: list[Token]) -> None:
    """LOGOUT (RFC 5804 §2.3): OK, then the server closes."""
    await session.ok(responses.LOGGED_OUT)
    session.closing = True


async def cmd_noop(session: Session, arguments: list[Token]) -> None:
    """NOOP (RFC 5804 §2.15), echoing a tag string in a TAG response code."""
    if arguments:
        tag = string_text(arguments[0], "tag")
        await session.send(responses.response("OK", responses.DONE, "TAG " + responses.quote(tag).decode()))
        return
    await session.ok(responses.DONE)


# --- not authenticated --------------------------------------------------------------------------


async def cmd_starttls(session: Session, arguments: list[Token]) -> None:
    """STARTTLS (RFC 5804 §2.2): after the handshake the capabilities are sent again."""
    if session.tls_active:
        await session.error(responses.ALREADY_TLS)
        return
    if session.tls_context is None:
        await session.error(responses.TLS_UNAVAILABLE)
        return
    if session.input_pending():
        await session.bye(responses.TLS_PIPELINED)
        return
    await session.ok(responses.BEGIN_TLS)
    await session.tls_start()
    await session.capabilities_send()
    await session.ok(responses.TLS_DONE)


async def cmd_authenticate(session: Session, arguments: list[Token]) -> None:
    """AUTHENTICATE (RFC 5804 §2.1) with PLAIN or OAUTHBEARER; initial response optional."""
    mechanism = string_text(arguments[0], "mechanism").upper()
    if mechanism not in SASL_MECHANISMS:
        await session.error(responses.AUTH_UNSUPPORTED)
        return
    if not session.plaintext_allowed():
        await session.no(responses.ENCRYPT_NEEDED, "ENCRYPT-NEEDED")
        return
    if len(arguments) == 2:
        encoded = string_text(arguments[1], "initial response")
    else:
        await session.send(b'""\r\n')  # empty challenge; the client answers with a string
        answer = await session.command_read()
        if answer is None:
            session.closing = True
            return
        if len(answer) != 1 or not isinstance(answer[0], String):
            await session.error(responses.AUTH_BAD_RESPONSE)
            return
        encoded = string_text(answer[0], "response")
        if encoded == "*":
            await session.no(responses.AUTH_CANCELLED)
            return
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        await session.error(responses.AUTH_BAD_RESPONSE)
        return
    try:
        if mechanism == "PLAIN":
            await _plain(session, decoded)
        else:
            await _oauthbearer(session, decoded)
    except Throttled:
        await session.bye(responses.AUTH_THROTTLED, "TRYLATER")


async def _plain(session: Session, decoded: bytes) -> None:
    parts = decoded.split(b"\0")
    if len(parts) != 3:
        await session.error(responses.AUTH_BAD_RESPONSE)
        return
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        await session.error(responses.AUTH_BAD_RESPONSE)
        return
    if not authcid or not password or (authzid and authzid.lower() != authcid.lower()):
        await _failed(session)
        return
    await _finish(session, credentials_check, address=authcid, password=password)


def oauthbearer_parse(decoded: bytes) -> tuple[str | None, str]:
    """(authzid or None, bearer token) from an OAUTHBEARER initial response (RFC 7628 §3.1)."""
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("not UTF-8") from None
    header, _, rest = text.partition("\x01")
    gs2 = header.split(",")
    if len(gs2) < 2 or gs2[0] not in ("n", "y"):
        raise ParseError("bad GS2 header")
    address = gs2[1][2:] if gs2[1].startswith("a=") else None
    for pair in rest.split("\x01"):
        key, _, value = pair.partition("=")
        if key == "auth" and value[:7].lower() == "bearer " and value[7:].strip():
            return address, value[7:].strip()
    raise ParseError("no bearer token")


async def _oauthbearer(session: Session, decoded: bytes) -> None:
    try:
        address, token = oauthbearer_parse(decoded)
    except ParseError:
        await session.error(responses.AUTH_BAD_RESPONSE)
        return
    await _finish(session, token_check, token=token, address=address)


async def _finish(session: Session, check: Callable[..., object], **credentials: object) -> None:
    try:
        account = await store_call(check, protocol="managesieve", client_ip=session.client_ip, **credentials)
    except Throttled:
        raise
    except Exception:
        log.exception("managesieve: authentication could not be checked")
        await session.no(responses.AUTH_UNAVAILABLE, "TRYLATER")
        return
    if account is None:
        await _failed(session)
        return
    session.account = account  # type: ignore[assignment]  # credentials_check and token_check return Account
    await session.ok(responses.LOGGED_IN)


async def _failed(session: Session) -> None:
    session.auth_failures += 1
    if session.auth_failures >= MAX_AUTH_FAILURES:
        await session.bye(responses.AUTH_FAILED)
        return
    await session.no(responses.AUTH_FAILED)


# --- authenticated ------------------------------------------------------------------------------


async def cmd_unauthenticate(session: Session, arguments: list[Token]) -> None:
    """UNAUTHENTICATE (RFC 5804 §2.14.1): back to the non-authenticated state."""
    session.account = None
    await session.ok(responses.UNAUTHENTICATED)


def _account_id(session: Session) -> int:
    assert session.account is not None
    return int(session.account.pk)


async def cmd_listscripts(session: Session, arguments: list[Token]) -> None:
    """LISTSCRIPTS (RFC 5804 §2.7)."""
    scripts = await store_call(sieve_scripts_of_account, account_id=_account_id(session))
    lines = b"".join(responses.quote(name) + (b" ACTIVE" if active else b"") + b"\r\n" for name, active in scripts)
    await session.send(lines)
    await session.ok(responses.LISTED)


async def cmd_getscript(session: Session, arguments: list[Token]) -> None:
    """GETSCRIPT (RFC 5804 §2.9): the script as a literal."""
    name = script_name_check(string_text(arguments[0], "script name"))
    content = await store_call(sieve_script_content, account_id=_account_id(session), name=name)
    if content is None:
        await session.no(responses.NO_SUCH_SCRIPT, "NONEXISTENT")
        return
    data = content.encode("utf-8")
    await session.send(b"{%d}\r\n" % len(data) + data + b"\r\n")
    await session.ok(responses.GOT)


async def _script_problem(session: Session, content_token: Token) -> tuple[str | None, str | None]:
    """(script text, None) when the script is valid; (None, reason) when not."""
    if not isinstance(content_token, String):
        raise ParseError("script must be a string")
    if len(content_token.value) > MAX_SCRIPT_SIZE:
        return None, "QUOTA/MAXSIZE"
    try:
        script = content_token.value.decode("utf-8")
    except UnicodeDecodeError:
        return None, "script is not UTF-8"
    # None when the MDA would run it; else "line N: reason". Parsing 256 KiB is no job for the loop.
    problem = await store_call(sieve_validate, script=script)
    return (None, problem) if problem else (script, None)


async def cmd_checkscript(session: Session, arguments: list[Token]) -> None:
    """CHECKSCRIPT (RFC 5804 §2.12): validate without storing."""
    script, problem = await _script_problem(session, arguments[0])
    if script is None:
        await _script_refused(session, problem or "")
        return
    await session.ok(responses.SCRIPT_VALID)


async def _script_refused(session: Session, problem: str) -> None:
    if problem == "QUOTA/MAXSIZE":
        await session.no(responses.TOO_BIG, problem)
    else:
        await session.no(problem)


async def cmd_putscript(session: Session, arguments: list[Token]) -> None:
    """PUTSCRIPT (RFC 5804 §2.6): validated with the MDA's parser, then stored (replacing)."""
    name = script_name_check(string_text(arguments[0], "script name"))
    script, problem = await _script_problem(session, arguments[1])
    if script is None:
        await _script_refused(session, problem or "")
        return
    names = {stored for stored, _ in await store_call(sieve_scripts_of_account, account_id=_account_id(session))}
    if name not in names and len(names) >= MAX_SCRIPTS_PER_OWNER:
        await session.no(responses.TOO_MANY_SCRIPTS, "QUOTA/MAXSCRIPTS")
        return
    try:
        await store_call(sieve_script_put, name=name, content=script, account=session.account)
    except InvalidName as error:
        await session.no(str(error))
        return
    await session.ok(responses.SCRIPT_STORED)


async def cmd_havespace(session: Session, arguments: list[Token]) -> None:
    """HAVESPACE (RFC 5804 §2.5)."""
    name = script_name_check(string_text(arguments[0], "script name"))
    size = number_value(arguments[1], "script size")
    if size > MAX_SCRIPT_SIZE:
        await session.no(responses.TOO_BIG, "QUOTA/MAXSIZE")
        return
    names = {stored for stored, _ in await store_call(sieve_scripts_of_account, account_id=_account_id(session))}
    if name not in names and len(names) >= MAX_SCRIPTS_PER_OWNER:
        await session.no(responses.TOO_MANY_SCRIPTS, "QUOTA/MAXSCRIPTS")
        return
    await session.ok(responses.SPACE_OK)


async def cmd_setactive(session: Session, arguments: list[Token]) -> None:
    """SETACTIVE (RFC 5804 §2.8); the empty name deactivates every script."""
    name = string_text(arguments[0], "script name")
    if name:
        script_name_check(name)
    try:
        await store_call(sieve_script_activate, name=name or None, account=session.account)
    except NotFound:
        await session.no(responses.NO_SUCH_SCRIPT, "NONEXISTENT")
        return
    await session.ok(responses.SCRIPT_ACTIVATED if name else responses.SCRIPTS_DEACTIVATED)


async def cmd_deletescript(session: Session, arguments: list[Token]) -> None:
    """DELETESCRIPT (RFC 5804 §2.10): the active script cannot be deleted."""
    name = script_name_check(string_text(arguments[0], "script name"))
    try:
        await store_call(sieve_script_delete, name=name, account=session.account)
    except NotFound:
        await session.no(responses.NO_SUCH_SCRIPT, "NONEXISTENT")
        return
    except ValueError:
        await session.no(responses.ACTIVE_SCRIPT, "ACTIVE")
        return
    await session.ok(responses.SCRIPT_DELETED)


async def cmd_renamescript(session: Session, arguments: list[Token]) -> None:
    """RENAMESCRIPT (RFC 5804 §2.11.1); an active script stays active under its new name."""
    old_name = script_name_check(string_text(arguments[0], "old script name"))
    new_name = script_name_check(string_text(arguments[1], "new script name"))
    try:
        await store_call(sieve_script_rename, old_name=old_name, new_name=new_name, account=session.account)
    except NotFound:
        await session.no(responses.NO_SUCH_SCRIPT, "NONEXISTENT")
        return
    except AlreadyExists:
        await session.no(responses.SCRIPT_EXISTS, "ALREADYEXISTS")
        return
    except InvalidName as error:
        await session.no(str(error))
        return
    await session.ok(responses.SCRIPT_RENAMED)


COMMANDS: dict[str, CommandEntry] = {
    "CAPABILITY": CommandEntry(cmd_capability, None, (0, 0)),
    "LOGOUT": CommandEntry(cmd_logout, None, (0, 0)),
    "NOOP": CommandEntry(cmd_noop, None, (0, 1)),
    "STARTTLS": CommandEntry(cmd_starttls, False, (0, 0)),
    "AUTHENTICATE": CommandEntry(cmd_authenticate, False, (1, 2)),
    "UNAUTHENTICATE": CommandEntry(cmd_unauthenticate, True, (0, 0)),
    "LISTSCRIPTS": CommandEntry(cmd_listscripts, True, (0, 0)),
    "GETSCRIPT": CommandEntry(cmd_getscript, True, (1, 1)),
    "PUTSCRIPT": CommandEntry(cmd_putscript, True, (2, 2)),
    "CHECKSCRIPT": CommandEntry(cmd_checkscript, True, (1, 1)),
    "HAVESPACE": CommandEntry(cmd_havespace, True, (2, 2)),
    "SETACTIVE": CommandEntry(cmd_setactive, True, (1, 1)),
    "DELETESCRIPT": CommandEntry(cmd_deletescript, True, (1, 1)),
    "RENAMESCRIPT": CommandEntry(cmd_renamescript, True, (2, 2)),
}
