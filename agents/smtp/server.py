"""SMTP listeners: MX (YUBIN_PORT_SMTP), submission with STARTTLS (YUBIN_PORT_SUBMISSION, RFC 6409)
and submission over implicit TLS (YUBIN_PORT_SUBMISSIONS, RFC 8314 §3.3).

All three share one group-committing delivery thread and one per-address connection count.
AUTH PLAIN/LOGIN go through agents.auth.credentials_check; the webmail authenticates with
AUTH PLAIN whose password is a bearer token from store.services.tokens (checked with
agents.auth.token_check when the password has a token's shape).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from agents import addresscounts
from agents.auth import Throttled, credentials_check, token_check
from agents.mda.deliver import GroupCommitter
from agents.runner import Listener
from agents.smtp import codes
from agents.smtp.handler_mx import MxHandler
from agents.smtp.handler_submission import SubmissionHandler
from agents.smtp.protocol import ConnectionLimits, SessionLimits, YubinSMTP
from agents.smtp.recipients import RecipientCache
from agents.tls import server_context

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def _check(address: str, secret: str, client_ip: str | None) -> Any:
    if _TOKEN_SHAPE.match(secret):
        account = token_check(token=secret, address=address, protocol="smtp", client_ip=client_ip)
        if account is not None:
            return account
    return credentials_check(address=address, password=secret, protocol="smtp", client_ip=client_ip)


async def authenticate(address: str, secret: str, client_ip: str | None) -> tuple[str, Any]:
    """(reply, account or None) for AUTH PLAIN/LOGIN credentials; credentials are never logged."""
    try:
        account = await sync_to_async(_check, thread_sensitive=False)(address, secret, client_ip)
    except Throttled:
        return codes.AUTH_THROTTLED, None
    except Exception:
        return codes.AUTH_TEMPFAIL, None
    if account is None:
        return codes.AUTH_FAILED, None
    return codes.AUTH_OK, account


def session_limits() -> SessionLimits:
    return SessionLimits(
        size_limit=settings.YUBIN_MESSAGE_SIZE_LIMIT,
        max_recipients=settings.YUBIN_SMTP_MAX_RECIPIENTS,
        max_errors=settings.YUBIN_SMTP_MAX_ERRORS,
        max_commands=settings.YUBIN_SMTP_MAX_COMMANDS,
        timeout=settings.YUBIN_SMTP_TIMEOUT,
    )


async def listeners_start(*, host: str) -> list[Listener]:
    """Bind MX, submission and submissions on `host`; a port set to 0 is not started."""
    loop = asyncio.get_running_loop()
    hostname = settings.YUBIN_HOSTNAME
    committer = GroupCommitter()
    recipients = RecipientCache(settings.YUBIN_SMTP_RECIPIENT_CACHE_SECONDS)
    connections = ConnectionLimits(
        total_max=settings.YUBIN_SMTP_MAX_CONNECTIONS,
        per_ip_max=settings.YUBIN_SMTP_MAX_CONNECTIONS_PER_IP,
        shared=addresscounts.shared_address_counts,
    )
    context = server_context()
    limits = session_limits()
    plans: list[tuple[str, int, Any, ssl.SSLContext | None]] = [
        (
            "smtp",
            settings.YUBIN_PORT_SMTP,
            MxHandler(hostname=hostname, committer=committer, recipients=recipients),
            None,
        ),
        (
            "submission",
            settings.YUBIN_PORT_SUBMISSION,
            SubmissionHandler(hostname=hostname, committer=committer, starttls_required=True, recipients=recipients),
            None,
        ),
        (
            "submissions",
            settings.YUBIN_PORT_SUBMISSIONS,
            SubmissionHandler(hostname=hostname, committer=committer, starttls_required=False, recipients=recipients),
            context,
        ),
    ]
    listeners: list[Listener] = []
    for name, port, handler, implicit in plans:
        if not port:
            continue

        def factory(handler: Any = handler, implicit: ssl.SSLContext | None = implicit) -> YubinSMTP:
            return YubinSMTP(
                handler,
                hostname=hostname,
                tls_context=None if implicit else context,
                implicit_tls=implicit is not None,
                limits=limits,
                connections=connections,
                authenticate=authenticate,
            )

        server = await loop.create_server(factory, host=host, port=port, ssl=implicit, reuse_address=True)
        committer.acquire()
        listeners.append(Listener(name=name, host=host, port=port, server=SmtpServer(server, committer)))
    return listeners


class SmtpServer:
    """An asyncio server whose close also lets the shared delivery thread finish and stop."""

    def __init__(self, server: asyncio.AbstractServer, committer: GroupCommitter) -> None:
        self.server = server
        self.committer = committer
        self._closed = False

    def close(self) -> None:
        self.server.close()
        if not self._closed:
            self._closed = True
            self.committer.release()

    async def wait_closed(self) -> None:
        await self.server.wait_closed()
