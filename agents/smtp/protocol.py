"""The SMTP protocol engine (RFC 5321) on aiosmtpd, with the strictness a public MX needs.

aiosmtpd gives us the connection, timeout and STARTTLS transport machinery; this subclass
replaces its command loop and command handlers so that:
- command lines must end in CRLF and DATA ends only at CRLF.CRLF; a bare LF or bare CR in DATA
  refuses the message (SMTP smuggling, like Postfix's smtpd_forbid_bare_newline);
- nothing a client pipelined before STARTTLS survives into the TLS session (RFC 3207 §6);
- the message size limit is enforced while reading (RFC 1870), not after;
- per-session command and error budgets and per-address connection limits hold;
- every reply comes from agents.smtp.codes.
Policy (who may send what to whom) lives in the handlers: handler_mx.py, handler_submission.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session, sslproto

from agents.addresscounts import AddressCounts
from agents.smtp import codes
from agents.smtp.address import (
    NULL_PATH,
    Path,
    PathError,
    params_parse,
    path_parse,
    split_command_argument,
    xtext_valid,
)
from agents.smtp.faults import fault_point
from store.linebreaks import crlf_only, dot_line, dot_unstuff_count

log = logging.getLogger(__name__)

MAX_COMMAND_LINE = 512  # RFC 5321 §4.5.3.1.4
MAX_AUTH_LINE = 12288  # RFC 4954 §4
READ_CHUNK = 65536
DATA_END = b"\r\n.\r\n"
_DATA_END = re.compile(re.escape(DATA_END))  # re finds it faster than find (store.linebreaks)
ALLOWED_BEFORE_STARTTLS = frozenset({"EHLO", "HELO", "NOOP", "RSET", "QUIT", "STARTTLS"})


class SmtpHandler(Protocol):
    name: str
    auth_offered: bool
    starttls_required: bool

    async def handle_MAIL(self, session: YubinSession, envelope: YubinEnvelope, path: Path) -> str: ...
    async def handle_RCPT(self, session: YubinSession, envelope: YubinEnvelope, rcpt: Recipient) -> str: ...
    async def handle_DATA(self, session: YubinSession, envelope: YubinEnvelope, content: bytes) -> str: ...


class YubinSession(Session):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.client_ip: str | None = None
        self.tls: bool = False
        self.account: Any = None  # the authenticated store.models.Account
        self.auth_address: str = ""  # AUTH identity, or the POP-before-SMTP address
        self.errors = 0
        self.commands = 0


@dataclass
class Recipient:
    path: Path
    notify: str = ""
    orcpt: str = ""
    plan: Any = None  # handler's resolution (agents.mda.deliver.RecipientPlan)


class YubinEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.sender: Path | None = None
        self.recipients: list[Recipient] = []
        self.declared_size = 0
        self.body_8bit = False
        self.dsn_ret = ""
        self.dsn_envid = ""
        # Set by the DATA reader: some line of the content starts with "." (its CRLF-only line
        # breaks are checked there too), for the message's wire facts (store.blobs).
        self.content_dots = False


@dataclass
class ConnectionLimits:
    """Counts open sessions across every listener of this process, and per client address across
    every agents process when several share the ports (`shared`, agents.addresscounts)."""

    total_max: int
    per_ip_max: int
    open_by_ip: dict[str, int] = field(default_factory=dict)
    shared: AddressCounts | None = None

    def acquire(self, ip: str) -> bool:
        if sum(self.open_by_ip.values()) >= self.total_max or self.open_by_ip.get(ip, 0) >= self.per_ip_max:
            return False
        if self.shared is not None and not self.shared.acquire(ip, self.per_ip_max):
            return False
        self.open_by_ip[ip] = self.open_by_ip.get(ip, 0) + 1
        return True

    def release(self, ip: str) -> None:
        if self.shared is not None and ip in self.open_by_ip:
            self.shared.release(ip)
        count = self.open_by_ip.get(ip, 0) - 1
        if count > 0:
            self.open_by_ip[ip] = count
        else:
            self.open_by_ip.pop(ip, None)


@dataclass(frozen=True)
class SessionLimits:
    size_limit: int
    max_recipients: int
    max_errors: int
    max_commands: int
    timeout: float


class CloseSession(Exception):
    """Reply already sent; close the connection."""


class YubinSMTP(SMTP):
    line_length_limit = MAX_AUTH_LINE + 2
    session: YubinSession
    envelope: YubinEnvelope

    def __init__(
        self,
        handler: SmtpHandler,
        *,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: SessionLimits,
        connections: ConnectionLimits,
        authenticate: Any,
    ) -> None:
        # aiosmtpd's SMTP.__init__ introspects the handler and this class (inspect.getmembers,
        # dir) on every connection to build dispatch tables this engine does not use; only the
        # state its connection, timeout and STARTTLS machinery reads is set up here.
        self.loop = asyncio.get_running_loop()
        asyncio.StreamReaderProtocol.__init__(
            self,
            asyncio.StreamReader(loop=self.loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected,
            loop=self.loop,
        )
        self.__ident__ = "Yubin"
        self.event_handler = handler
        self.data_size_limit = limits.size_limit
        self.enable_SMTPUTF8 = True
        self._decode_data = False
        self.hostname = hostname
        self.tls_context = tls_context
        self.require_starttls = False
        self._timeout_duration = limits.timeout
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._tls_handshake_okay = True
        self._tls_protocol: sslproto.SSLProtocol | None = None
        self._original_transport: asyncio.BaseTransport | None = None
        self.session = None  # type: ignore[assignment]
        self.envelope = None  # type: ignore[assignment]
        self.transport: asyncio.BaseTransport | None = None
        self._handler_coroutine: asyncio.Task[None] | None = None
        self._auth_require_tls = True
        self._auth_required = False
        self._proxy_timeout = None
        self._authenticator = None
        self._auth_callback = None
        self._auth_methods = {}
        self._handle_hooks = {}
        self._ehlo_hook_ver = None
        self._smtp_methods = {}
        self._enforce_call_limit = False
        self.handler = handler
        self.implicit_tls = implicit_tls
        self.limits = limits
        self.connections = connections
        self.authenticate_credentials = authenticate
        self._counted_ip: str | None = None

    def _create_session(self) -> YubinSession:
        return YubinSession(self.loop)

    def _create_envelope(self) -> YubinEnvelope:
        return YubinEnvelope()

    # -- connection -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        if first:
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else ""
            if not self.connections.acquire(ip):
                transport.write((codes.TOO_MANY_CONNECTIONS.format(hostname=self.hostname) + "\r\n").encode())  # type: ignore[attr-defined]
                transport.close()
                return
            self._counted_ip = ip
        previous_account = self.session.account if self.session is not None else None
        super().connection_made(transport)
        self.session.client_ip = self._counted_ip
        self.session.tls = self.implicit_tls or self._tls_protocol is not None
        if previous_account is not None:  # pragma: no cover - AUTH is refused before TLS anyway
            self.session.account = None

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Note activity; one timer per session re-arms itself instead of a new timer per command."""
        self._idle_since = self.loop.time()
        if self._timeout_handle is None or duration is not None:
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            self._timeout_handle = self.loop.call_later(duration or self._timeout_duration, self._timeout_cb)

    def _timeout_cb(self) -> None:
        remaining = self._idle_since + self._timeout_duration - self.loop.time()
        if remaining > 0.01:
            self._timeout_handle = self.loop.call_later(remaining, self._timeout_cb)
            return
        super()._timeout_cb()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted_ip is not None:
            self.connections.release(self._counted_ip)
            self._counted_ip = None
        if self.session is None or self._handler_coroutine is None:
            return
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._handler_coroutine is None:
            return False
        super().eof_received()  # cancels the session's coroutine
        # Close rather than keep the half-open transport: nothing else would close it, and its
        # connection_lost is what gives the client's address its connection slot back.
        return False

    async def push(self, status: str | bytes) -> None:
        response = status.encode("utf-8") if isinstance(status, str) else status
        writer = self._writer
        writer.write(response + b"\r\n")
        transport = writer.transport
        # Flow control only matters when the reply could not be sent at once (the usual case on
        # a reply of a few bytes is that it was): drain's coroutines cost more than the reply.
        if transport.get_write_buffer_size() or transport.is_closing():
            await writer.drain()

    async def reply(self, status: str) -> None:
        """Send a reply and count 4xx/5xx against the session's error budget (Postfix-style)."""
        await self.push(status)
        if status[:1] in ("4", "5") and not status.startswith("421"):
            self.session.errors += 1
            if self.session.errors >= self.limits.max_errors:
                await self.push(codes.TOO_MANY_ERRORS.format(hostname=self.hostname))
                raise CloseSession

    async def _read_line(self, limit: int) -> bytes | None:
        """One CRLF-terminated line without its CRLF; None (after a reply) when malformed."""
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as error:
            await self._reader.read(error.consumed)
            while True:
                try:
                    await self._reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as more:
                    await self._reader.read(more.consumed)
            await self.reply(codes.LINE_TOO_LONG)
            return None
        except asyncio.IncompleteReadError:
            raise CloseSession from None
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            await self.reply(codes.BARE_LINEFEED_COMMAND)
            return None
        if len(line) - 2 > limit:
            await self.reply(codes.LINE_TOO_LONG)
            return None
        return line[:-2]

    # -- command loop ---------------------------------------------------------------------------

    async def _handle_client(self) -> None:
        await self.push(codes.GREETING.format(hostname=self.hostname))
        try:
            while self.transport is not None:
                line = await self._read_line(MAX_AUTH_LINE)
                if line is None:
                    continue
                self.session.commands += 1
                if self.session.commands > self.limits.max_commands:
                    await self.push(codes.TOO_MANY_COMMANDS.format(hostname=self.hostname))
                    break
                verb_bytes, _, arg_bytes = line.partition(b" ")
                verb = verb_bytes.decode("ascii", "replace").upper()
                if verb != "AUTH" and len(line) > MAX_COMMAND_LINE:
                    await self.reply(codes.LINE_TOO_LONG)
                    continue
                arg = arg_bytes.strip().decode("utf-8", "surrogateescape")
                method = getattr(self, f"smtp_{verb}", None) if verb.isalpha() else None
                if method is None:
                    await self.reply(codes.SYNTAX_ERROR)
                    continue
                if self.handler.starttls_required and not self.session.tls and verb not in ALLOWED_BEFORE_STARTTLS:
                    await self.reply(codes.STARTTLS_REQUIRED)
                    continue
                self._reset_timeout()
                if await method(arg) is False:
                    break
        except CloseSession:
            pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        if self.transport is not None:
            self.transport.close()

    # -- commands -------------------------------------------------------------------------------

    async def smtp_HELO(self, arg: str) -> None:
        """RFC 5321 §4.1.1.1."""
        if not arg:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="HELO hostname"))
            return
        self._set_rset_state()
        self.session.host_name = arg.split()[0]
        self.session.extended_smtp = False
        await self.push(codes.HELO_REPLY.format(hostname=self.hostname))

    async def smtp_EHLO(self, arg: str) -> None:
        """RFC 5321 §4.1.1.1; extensions per RFC 1870, 2920, 6152, 6531, 2034, 3207, 3461, 4954."""
        if not arg:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="EHLO hostname"))
            return
        self._set_rset_state()
        self.session.host_name = arg.split()[0]
        self.session.extended_smtp = True
        lines = [self.hostname, "PIPELINING", f"SIZE {self.limits.size_limit}", "8BITMIME", "SMTPUTF8"]
        lines += ["ENHANCEDSTATUSCODES", "DSN"]
        if self.tls_context is not None and not self.session.tls:
            lines.append("STARTTLS")
        if self.handler.auth_offered and self.session.tls and self.session.account is None:
            lines.append("AUTH PLAIN LOGIN")
        # One write, so one segment: a write per line cost a system call and a packet each.
        await self.push("".join(f"250-{line}\r\n" for line in lines[:-1]) + f"250 {lines[-1]}")

    async def smtp_STARTTLS(self, arg: str) -> None:
        """RFC 3207 §4: after 220, the plaintext buffer is dropped and all state is reset."""
        if arg:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="STARTTLS"))
            return
        if self.tls_context is None or self.session.tls:
            await self.reply(codes.TLS_UNAVAILABLE)
            return
        # Anything pipelined after STARTTLS was sent in plaintext and must not be executed.
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        await self.push(codes.READY_TLS)
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(self.loop, self, self.tls_context, waiter, server_side=True)
        self._original_transport = self.transport
        assert self._original_transport is not None
        self._original_transport.set_protocol(self._tls_protocol)  # type: ignore[attr-defined]
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(self._original_transport)
        try:
            await waiter
        except Exception:
            raise CloseSession from None

    async def smtp_NOOP(self, arg: str) -> None:
        await self.push(codes.OK)

    async def smtp_HELP(self, arg: str) -> None:
        await self.push(codes.HELP)

    async def smtp_QUIT(self, arg: str) -> bool:
        await self.push(codes.CLOSING.format(hostname=self.hostname))
        return False

    async def smtp_RSET(self, arg: str) -> None:
        """RFC 5321 §4.1.1.5."""
        self._set_rset_state()
        await self.push(codes.OK_RESET)

    async def smtp_VRFY(self, arg: str) -> None:
        """RFC 5321 §3.5.3: never reveals whether an account exists."""
        await self.push(codes.VRFY_REPLY)

    async def smtp_EXPN(self, arg: str) -> None:
        await self.reply(codes.EXPN_DISABLED)

    async def smtp_AUTH(self, arg: str) -> None:
        """RFC 4954 §4: PLAIN (RFC 4616) and LOGIN, after TLS only."""
        if not self.handler.auth_offered:
            await self.reply(codes.AUTH_NOT_ON_MX)
            return
        if not self.session.host_name or not self.session.extended_smtp:
            await self.reply(codes.NEED_HELO)
            return
        if self.session.account is not None:
            await self.reply(codes.ALREADY_AUTHENTICATED)
            return
        if self.envelope.sender is not None:
            await self.reply(codes.NESTED_MAIL)
            return
        if not self.session.tls:
            await self.reply(codes.ENCRYPTION_REQUIRED)
            return
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            credentials = await self._auth_plain(initial.strip())
        elif mechanism == "LOGIN":
            credentials = await self._auth_login(initial.strip())
        else:
            await self.reply(codes.AUTH_MECHANISM_UNKNOWN)
            return
        if credentials is None:
            return
        status, account = await self.authenticate_credentials(credentials[0], credentials[1], self.session.client_ip)
        if account is not None:
            self.session.account = account
            self.session.auth_address = account.address
            self.session.authenticated = True
        await self.reply(status)

    async def _challenge(self, prompt: str) -> bytes | None:
        await self.push(codes.AUTH_CONTINUE.format(challenge=prompt))
        line = await self._read_line(MAX_AUTH_LINE)
        if line is None:
            return None
        if line == b"*":
            await self.reply(codes.AUTH_CANCELLED)
            return None
        return self._b64(line)

    def _b64(self, data: bytes) -> bytes | None:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None

    async def _auth_plain(self, initial: str) -> tuple[str, str] | None:
        if initial == "=":
            decoded: bytes | None = b""
        elif initial:
            decoded = self._b64(initial.encode())
        else:
            decoded = await self._challenge("")
            if decoded is None and self.transport is not None:
                return None
        if decoded is None or decoded.count(b"\0") != 2:
            await self.reply(codes.AUTH_BAD_ENCODING)
            return None
        authzid, authcid, password = decoded.split(b"\0")
        user = authcid.decode("utf-8", "replace")
        if authzid and authzid.decode("utf-8", "replace").lower() != user.lower():
            await self.reply(codes.AUTH_FAILED)  # no proxy authorization
            return None
        return user, password.decode("utf-8", "replace")

    async def _auth_login(self, initial: str) -> tuple[str, str] | None:
        user_bytes = self._b64(initial.encode()) if initial else await self._challenge(codes.LOGIN_USERNAME)
        if user_bytes is None:
            await self.reply(codes.AUTH_BAD_ENCODING)
            return None
        password_bytes = await self._challenge(codes.LOGIN_PASSWORD)
        if password_bytes is None:
            await self.reply(codes.AUTH_BAD_ENCODING)
            return None
        return user_bytes.decode("utf-8", "replace"), password_bytes.decode("utf-8", "replace")

    async def smtp_MAIL(self, arg: str) -> None:
        """RFC 5321 §4.1.1.2 with SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461)."""
        if not self.session.host_name:
            await self.reply(codes.NEED_HELO)
            return
        if self.envelope.sender is not None:
            await self.reply(codes.NESTED_MAIL)
            return
        parts = split_command_argument(arg, "FROM:")
        if parts is None:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="MAIL FROM:<address>"))
            return
        try:
            params = params_parse(parts[1]) if self.session.extended_smtp else {}
            if parts[1] and not self.session.extended_smtp:
                raise PathError("parameters need EHLO")
        except PathError:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="MAIL FROM:<address> [parameters]"))
            return
        status = self._mail_params(params)
        if status:
            await self.reply(status)
            return
        utf8 = "SMTPUTF8" in params
        try:
            sender = path_parse(parts[0], utf8=utf8, allow_null=True)
        except PathError:
            await self.reply(codes.SMTPUTF8_REQUIRED if not parts[0].isascii() else codes.SENDER_SYNTAX)
            return
        status = await self.handler.handle_MAIL(self.session, self.envelope, sender)
        if status.startswith("250"):
            self.envelope.sender = sender
            self.envelope.mail_from = sender.address
            self.envelope.smtp_utf8 = utf8
        await self.reply(status)

    def _mail_params(self, params: dict[str, str | None]) -> str:
        for name, value in params.items():
            if name == "SIZE":
                if not value or not (value.isascii() and value.isdigit()):
                    return codes.ARGUMENT_SYNTAX.format(usage="SIZE=<number>")
                if int(value) > self.limits.size_limit:
                    return codes.MESSAGE_TOO_BIG.format(limit=self.limits.size_limit)
                self.envelope.declared_size = int(value)
            elif name == "BODY":
                if (value or "").upper() not in ("7BIT", "8BITMIME"):
                    return codes.PARAMETER_UNKNOWN.format(parameter=f"BODY={value}")
                self.envelope.body_8bit = (value or "").upper() == "8BITMIME"
            elif name == "SMTPUTF8":
                if value is not None:
                    return codes.ARGUMENT_SYNTAX.format(usage="SMTPUTF8")
            elif name == "RET":
                if (value or "").upper() not in ("FULL", "HDRS"):
                    return codes.ARGUMENT_SYNTAX.format(usage="RET=FULL|HDRS")
                self.envelope.dsn_ret = (value or "").upper()
            elif name == "ENVID":
                if not value or len(value) > 100 or not xtext_valid(value):
                    return codes.ARGUMENT_SYNTAX.format(usage="ENVID=<xtext>")
                self.envelope.dsn_envid = value
            elif name == "AUTH":
                continue  # RFC 4954 §5: accepted, not trusted
            else:
                return codes.PARAMETER_UNKNOWN.format(parameter=name)
        return ""

    async def smtp_RCPT(self, arg: str) -> None:
        """RFC 5321 §4.1.1.3 with DSN NOTIFY/ORCPT (RFC 3461 §4.1, §4.2)."""
        if self.envelope.sender is None:
            await self.reply(codes.NEED_MAIL)
            return
        if len(self.envelope.recipients) >= self.limits.max_recipients:
            await self.reply(codes.TOO_MANY_RECIPIENTS)
            return
        parts = split_command_argument(arg, "TO:")
        if parts is None:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="RCPT TO:<address>"))
            return
        try:
            params = params_parse(parts[1])
            rcpt = Recipient(path=NULL_PATH)
            for name, value in params.items():
                if name == "NOTIFY":
                    words = {word.upper() for word in (value or "").split(",")}
                    if not words <= {"NEVER", "SUCCESS", "FAILURE", "DELAY"} or ("NEVER" in words and len(words) > 1):
                        await self.reply(codes.PARAMETER_SYNTAX.format(parameter=name))
                        return
                    rcpt.notify = ",".join(sorted(words))
                elif name == "ORCPT":
                    if not value or ";" not in value or not xtext_valid(value.split(";", 1)[1]):
                        await self.reply(codes.PARAMETER_SYNTAX.format(parameter=name))
                        return
                    rcpt.orcpt = value
                else:
                    await self.reply(codes.PARAMETER_UNKNOWN.format(parameter=name))
                    return
            rcpt.path = path_parse(parts[0], utf8=self.envelope.smtp_utf8, postmaster_domain=self.hostname.lower())
        except PathError:
            utf8_needed = not parts[0].isascii() and not self.envelope.smtp_utf8
            await self.reply(codes.SMTPUTF8_REQUIRED if utf8_needed else codes.ADDRESS_SYNTAX)
            return
        status = await self.handler.handle_RCPT(self.session, self.envelope, rcpt)
        if status.startswith("250"):
            self.envelope.recipients.append(rcpt)
            self.envelope.rcpt_tos.append(rcpt.path.address)
        await self.reply(status)

    async def smtp_DATA(self, arg: str) -> None:
        """RFC 5321 §4.1.1.4 and §4.5.2; strict CRLF.CRLF end (§2.3.8, smuggling defence)."""
        if arg:
            await self.reply(codes.ARGUMENT_SYNTAX.format(usage="DATA"))
            return
        if self.envelope.sender is None:
            await self.reply(codes.NEED_MAIL)
            return
        if not self.envelope.recipients:
            await self.reply(codes.NEED_RCPT)
            return
        await self.push(codes.START_DATA)
        content, problem = await self._read_data()
        if problem:
            self._set_rset_state()
            await self.reply(problem)
            return
        try:
            status = await self.handler.handle_DATA(self.session, self.envelope, content)
        except Exception:
            log.exception("delivery failed")
            status = codes.LOCAL_ERROR
        self._set_rset_state()
        await self.reply(status)

    async def _read_data(self) -> tuple[bytes, str]:
        """Read up to CRLF.CRLF; return (unstuffed content, "") or (b"", error reply)."""
        # A virtual CRLF before the first line lets an empty message (".") end the same way.
        buffer = bytearray(b"\r\n")
        limit = self.limits.size_limit
        too_big = False
        search_from = 0
        while True:
            found = _DATA_END.search(buffer, search_from)
            if found is not None:
                end = found.start()
                break
            search_from = max(0, len(buffer) - 4)
            if len(buffer) > limit + 2:
                too_big = True
                del buffer[: len(buffer) - 4]  # keep only what may start the end marker
                search_from = 0
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                raise CloseSession
            fault_point("data")
            buffer += chunk
        leftover = bytes(buffer[end + len(DATA_END) :])
        if leftover:
            # Commands pipelined after the final dot (RFC 2920) go back to the command reader.
            self._reader._buffer[:0] = leftover  # type: ignore[attr-defined]
        if too_big:
            return b"", codes.MESSAGE_TOO_BIG.format(limit=limit)
        body = bytes(buffer[: end + 2])
        if not crlf_only(body):
            return b"", codes.BARE_LINEFEED_DATA
        content, unstuffed = dot_unstuff_count(body)
        content = content[2:]
        if len(content) > limit:
            return b"", codes.MESSAGE_TOO_BIG.format(limit=limit)
        # A line of the content starts with "." only where the client stuffed one (a client that
        # did not stuff its dots loses them, as RFC 5321 §4.5.2 has it).
        self.envelope.content_dots = bool(unstuffed) and dot_line(content)
        return content, ""
