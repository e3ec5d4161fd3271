"""ManageSieve (RFC 5804) client for the rules page: sievelib with the session's token."""

from __future__ import annotations

import ssl
import warnings

from django.conf import settings
from sievelib.managesieve import Client, Error

from webmail.imap.pool import tls_context
from webmail.sieve.rules import SCRIPT_NAME

SIEVE_TIMEOUT_SECONDS = 20


class SieveUnavailable(Exception):
    """ManageSieve refused us or is down; the text says what it answered."""


class _Client(Client):
    """sievelib's client with our TLS context: it trusts the agents' own (self-signed) certificate,
    where sievelib's default context would demand a publicly trusted one for the host name."""

    read_timeout = SIEVE_TIMEOUT_SECONDS

    def _Client__enable_ssl(self, keyfile: str | None = None, certfile: str | None = None) -> None:
        try:
            self.sock = tls_context().wrap_socket(self.sock, server_hostname=self.srvaddr)  # type: ignore[has-type]  # set by connect()
        except ssl.SSLError as error:
            raise Error(f"SSL error: {error}") from error


def _connect(address: str, token: str) -> Client:
    host = settings.YUBIN_WEBMAIL_IMAP_HOST or settings.YUBIN_BIND
    client = _Client(host, settings.YUBIN_PORT_SIEVE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sievelib warns before STARTTLS on loopback
            ok = client.connect(address, token, starttls=True, authmech="OAUTHBEARER")
    except (Error, OSError, ssl.SSLError) as error:
        raise SieveUnavailable(str(error)) from error
    if not ok:
        raise SieveUnavailable(_errmsg(client))
    return client


def _errmsg(client: Client) -> str:
    message = client.errmsg
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message or "")


def script_get(address: str, token: str) -> str:
    client = _connect(address, token)
    try:
        _active, scripts = client.listscripts()
        if SCRIPT_NAME not in scripts:
            return ""
        return client.getscript(SCRIPT_NAME) or ""
    finally:
        client.logout()


def script_put(address: str, token: str, script: str) -> None:
    """PUTSCRIPT (the server validates it with the MDA's parser) and SETACTIVE."""
    client = _connect(address, token)
    try:
        if not client.putscript(SCRIPT_NAME, script):
            raise SieveUnavailable(_errmsg(client))
        if not client.setactive(SCRIPT_NAME):
            raise SieveUnavailable(_errmsg(client))
    finally:
        client.logout()
