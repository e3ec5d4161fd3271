"""One delivery attempt for one destination domain: route, connect (or reuse), prepare, send.

Routing is the smarthost when YUBIN_SMARTHOST is set, else the domain's MX hosts (mx.py) narrowed
and TLS-enforced by its MTA-STS policy (mta_sts.py). Hosts are tried in order until one answers the
transaction; after the message has been handed to a server, a lost connection defers rather than
trying the next host, which could duplicate the message.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings

from agents.mta.client import ConnectionPool, Envelope, SmtpConnection, SmtpError, TlsPolicy
from agents.mta.dkim import dkim_signature
from agents.mta.mime import has_8bit, needs_smtputf8, to_7bit
from agents.mta.mta_sts import policy_for
from agents.mta.mx import RouteError, host_addresses, mx_resolve
from store.models import OutboundMessage, OutboundRecipient

NO_ROUTE_REPLY = "451 4.4.1 No mail exchanger could be reached"

pool = ConnectionPool()  # per worker process


@dataclass(frozen=True)
class Attempt:
    """One recipient's result: the final reply, the host that gave it, whether TLS was on."""

    reply: str
    host: str = ""
    tls: bool = False
    report_success: bool = False  # NOTIFY=SUCCESS could not be passed on: we report "relayed"


@dataclass(frozen=True)
class Target:
    host: str
    address: str
    port: int
    tls: TlsPolicy
    login: tuple[str, str] | None = None


def _host_port(spec: str, default_port: int) -> tuple[str, int]:
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, default_port


def _addresses(host: str) -> tuple[str, ...]:
    try:
        ipaddress.ip_address(host)
        return (host,)
    except ValueError:
        return host_addresses(host)


def route(domain: str) -> list[Target]:
    """Where to try delivering mail for a domain, in order; raises RouteError when nowhere."""
    ca_file = settings.YUBIN_RELAY_CA_FILE
    if settings.YUBIN_SMARTHOST:
        mode = settings.YUBIN_SMARTHOST_TLS.lower()
        host, port = _host_port(settings.YUBIN_SMARTHOST, 465 if mode == "tls" else 587)
        tls = TlsPolicy(
            required=mode != "none", verify=mode != "none", server_name=host, implicit=mode == "tls", ca_file=ca_file
        )
        login = (settings.YUBIN_SMARTHOST_USER, settings.YUBIN_SMARTHOST_PASSWORD)
        return [Target(host, a, port, tls, login if login[0] else None) for a in _addresses(host)]
    hosts = mx_resolve(domain)
    policy = policy_for(domain)
    targets: list[Target] = []
    for mx in hosts:
        if policy is not None and policy.enforced:
            if not policy.mx_allowed(mx.name):
                continue
            tls = TlsPolicy(required=True, verify=True, server_name=mx.name, ca_file=ca_file)
        else:
            tls = TlsPolicy(server_name=mx.name)
        targets += [Target(mx.name, address, settings.YUBIN_RELAY_PORT, tls) for address in mx.addresses]
    if not targets:
        raise RouteError(f"451 4.7.5 MTA-STS policy of {domain} lists none of its MX hosts", permanent=False)
    return targets


def _open(target: Target) -> SmtpConnection:
    options = {
        "host": target.host,
        "address": target.address,
        "port": target.port,
        "helo_name": settings.YUBIN_HOSTNAME,
        "source": settings.YUBIN_RELAY_SOURCE or settings.YUBIN_BIND,
        "connect_timeout": settings.YUBIN_RELAY_CONNECT_TIMEOUT,
        "command_timeout": settings.YUBIN_RELAY_COMMAND_TIMEOUT,
    }
    try:
        connection = SmtpConnection.open(tls=target.tls, **options)  # type: ignore[arg-type]
    except SmtpError as exc:
        if target.tls.required or "TLS handshake" not in exc.reply:
            raise
        # Opportunistic TLS that fails is retried in plaintext, as Postfix does at level "may".
        plain = TlsPolicy(server_name=target.host, starttls=False)
        connection = SmtpConnection.open(tls=plain, **options)  # type: ignore[arg-type]
    if target.login is not None:
        try:
            connection.login(*target.login)
        except SmtpError:
            connection.close()
            raise
    return connection


def _prepare(
    *, outbound: OutboundMessage, original: bytes, addresses: list[str], connection: SmtpConnection,
    prepared: dict[str, bytes],
) -> tuple[Envelope | None, str]:  # fmt: skip
    """The envelope for this server, or None and the reply that fails the recipients."""
    extensions = connection.extensions
    smtputf8 = needs_smtputf8(original, outbound.sender, addresses)
    if smtputf8 and "SMTPUTF8" not in extensions:
        return None, f"550 5.6.7 SMTPUTF8 is required, but was not offered by host {connection.host}"
    eight_bit = outbound.body_8bit or has_8bit(original)
    variant = "8bit"
    if eight_bit and not ({"8BITMIME", "SMTPUTF8"} & extensions.keys()):
        variant = "7bit"
    if variant not in prepared:
        data = original if variant == "8bit" else to_7bit(original)
        if data is None:
            return None, f"550 5.6.3 8-bit headers cannot be sent to {connection.host}, which lacks 8BITMIME"
        prepared[variant] = dkim_signature(data, sender=outbound.sender) + data
    data = prepared[variant]
    if connection.size_limit and len(data) > connection.size_limit:
        return None, f"552 5.3.4 Message size exceeds fixed limit of host {connection.host}"
    return (
        Envelope(
            sender=outbound.sender,
            recipients=addresses,
            data=data,
            smtputf8=smtputf8 or (outbound.smtputf8 and "SMTPUTF8" in extensions),
            body_8bit=eight_bit and variant == "8bit",
            dsn_ret=outbound.dsn_ret,
            dsn_envid=outbound.dsn_envid,
        ),
        "",
    )


def _temporary(reply: str) -> str:
    """A session that broke mid-transaction is retried later, whatever the last reply said."""
    return reply if reply[:1] == "4" else f"451 4.4.2 {reply}"


def relay_domain(
    *, outbound: OutboundMessage, original: bytes, domain: str, recipients: list[OutboundRecipient],
    prepared: dict[str, bytes],
) -> dict[int, Attempt]:  # fmt: skip
    """Try to hand the message to the domain's servers; one Attempt per recipient id."""

    def everyone(reply: str, host: str = "", tls: bool = False) -> dict[int, Attempt]:
        return {r.pk: Attempt(reply, host, tls) for r in recipients}

    try:
        targets = route(domain)
    except RouteError as exc:
        return everyone(exc.reply)
    addresses = [r.address for r in recipients]
    reuse = settings.YUBIN_RELAY_REUSE_SECONDS
    last_reply = NO_ROUTE_REPLY
    for target in targets:
        key = (target.host, target.address, target.port, target.tls, target.login)
        connection = pool.take(key, reuse)
        if connection is None:
            try:
                connection = _open(target)
            except SmtpError as exc:
                last_reply = exc.reply
                continue
        envelope, failure = _prepare(
            outbound=outbound, original=original, addresses=addresses, connection=connection, prepared=prepared
        )
        if envelope is None:
            pool.give(key, connection, reuse)
            return everyone(failure, target.host, connection.tls)
        envelope.dsn_notify = {r.address: r.dsn_notify for r in recipients if r.dsn_notify}
        envelope.dsn_orcpt = {r.address: r.dsn_orcpt for r in recipients if r.dsn_orcpt}
        try:
            replies = connection.transaction(envelope)
        except SmtpError as exc:
            connection.close()
            if connection.reused and connection.replies_read == 0:
                # The pooled session was closed by the server while idle: nothing was taken; start afresh.
                try:
                    connection = _open(target)
                    replies = connection.transaction(envelope)
                except SmtpError as retry_exc:
                    connection.close()
                    return everyone(_temporary(retry_exc.reply), target.host, connection.tls)
            else:
                return everyone(_temporary(exc.reply), target.host, connection.tls)
        pool.give(key, connection, reuse)
        passes_dsn = "DSN" in connection.extensions
        return {
            r.pk: Attempt(
                replies[r.address].text,
                target.host,
                connection.tls,
                report_success=not passes_dsn and "SUCCESS" in r.dsn_notify.upper(),
            )
            for r in recipients
        }
    return everyone(last_reply)
