"""The DNS records a mail domain publishes, and a check of each against the live DNS.

MX (RFC 5321 §5, RFC 7505), SPF (RFC 7208), DKIM (RFC 6376 §3.6.2), DMARC (RFC 7489 §6.1),
MTA-STS (RFC 8461 §3.1 TXT and the policy host), TLS-RPT (RFC 8460 §3), client autoconfiguration
host names (Thunderbird autoconfig, Outlook autodiscover) and service SRV records (RFC 6186,
RFC 8314 §5.1). Lookups use the agents' dnspython resolver (YUBIN_DNS_RESOLVERS).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.resolver
from django.conf import settings

from agents.dns import resolver_make
from store.models import DkimKey, Domain

DNS_TIMEOUT_SECONDS = 4.0


@dataclass
class Record:
    purpose: str
    name: str
    rtype: str
    value: str
    checker: Callable[[Record, dns.resolver.Resolver], tuple[bool, list[str]]] | None = None
    status: str = ""  # ok | wrong | missing | error
    found: list[str] = field(default_factory=list)


def resolver_new() -> dns.resolver.Resolver:
    """The agents' resolver (YUBIN_DNS_RESOLVERS), with a shorter lifetime for an interactive page."""
    resolver = resolver_make()
    resolver.lifetime = DNS_TIMEOUT_SECONDS
    return resolver


def _lookup(resolver: dns.resolver.Resolver, name: str, rtype: str) -> list[str]:
    try:
        answer = resolver.resolve(name, rtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    if rtype == "TXT":
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]  # type: ignore[attr-defined]
    return [r.to_text() for r in answer]


def _host(text: str) -> str:
    return text.rstrip(".").lower()


def _check_mx(record: Record, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
    found = _lookup(resolver, record.name, "MX")
    return any(_host(mx.split()[-1]) == settings.YUBIN_HOSTNAME.lower() for mx in found), found


def _txt_starting(prefix: str) -> Callable[[Record, dns.resolver.Resolver], tuple[bool, list[str]]]:
    def check(record: Record, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
        found = [t for t in _lookup(resolver, record.name, "TXT") if t.lower().startswith(prefix.lower())]
        return len(found) == 1 and _txt_matches(record.value, found[0]), found

    return check


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def _txt_matches(expected: str, found: str) -> bool:
    """Tag records (DKIM, DMARC, STS, TLS-RPT) match on the tags that matter; SPF on its mechanisms."""
    if expected.startswith("v=spf1"):
        terms = found.lower().split()
        host = settings.YUBIN_HOSTNAME.lower()
        return ("mx" in terms or f"a:{host}" in terms or f"include:{host}" in terms) and "+all" not in terms
    want, have = _tags(expected), _tags(found)
    if "p" in want and want.get("v", "").upper() == "DKIM1":
        return have.get("p") == want["p"]
    if want.get("v", "").upper() == "DMARC1":
        return have.get("p", "") in ("none", "quarantine", "reject")
    if want.get("v", "").upper() == "STSV1":
        return bool(have.get("id"))
    if want.get("v", "").upper() == "TLSRPTV1":
        return bool(have.get("rua"))
    return found == expected


def _addresses(resolver: dns.resolver.Resolver, name: str) -> set[str]:
    return set(_lookup(resolver, name, "A")) | set(_lookup(resolver, name, "AAAA"))


def _check_host_alias(record: Record, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
    """A CNAME to the mail host, or A/AAAA records equal to the mail host's, are both right."""
    cname = _lookup(resolver, record.name, "CNAME")
    if cname:
        return _host(cname[0]) == settings.YUBIN_HOSTNAME.lower(), cname
    found = _addresses(resolver, record.name)
    host_addresses = _addresses(resolver, settings.YUBIN_HOSTNAME)
    return bool(found) and found == host_addresses, sorted(found)


def _check_host_exists(record: Record, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
    found = sorted(_addresses(resolver, record.name))
    return bool(found), found


def _check_srv(record: Record, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
    found = _lookup(resolver, record.name, "SRV")
    want_port, want_host = record.value.split()[2], settings.YUBIN_HOSTNAME.lower()
    return any(s.split()[2] == want_port and _host(s.split()[3]) == want_host for s in found), found


def mta_sts_policy(domain: Domain) -> str:
    """The MTA-STS policy file (RFC 8461 §3.2) served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    return (
        "version: STSv1\r\n"
        f"mode: {settings.YUBIN_MTA_STS_MODE}\r\n"
        f"mx: {settings.YUBIN_HOSTNAME}\r\n"
        f"max_age: {settings.YUBIN_MTA_STS_MAX_AGE}\r\n"
    )


def records_for(domain: Domain) -> list[Record]:
    host = settings.YUBIN_HOSTNAME
    name = domain.name
    policy_id = hashlib.sha256(mta_sts_policy(domain).encode()).hexdigest()[:20]
    records = [
        Record("Mail host address", host, "A/AAAA", "(this server's public address)", _check_host_exists),
        Record("MX", name, "MX", f"10 {host}.", _check_mx),
        Record("SPF", name, "TXT", "v=spf1 mx ~all", _txt_starting("v=spf1")),
    ]
    for key in DkimKey.objects.filter(domain=domain).order_by("-active", "-created"):
        purpose = "DKIM" if key.active else "DKIM (former key)"
        records.append(
            Record(purpose, f"{key.selector}._domainkey.{name}", "TXT", key.public_record, _txt_starting("v=DKIM1"))
        )
    records += [
        Record("DMARC", f"_dmarc.{name}", "TXT", f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{name}",
               _txt_starting("v=DMARC1")),
        Record("MTA-STS", f"_mta-sts.{name}", "TXT", f"v=STSv1; id={policy_id}", _txt_starting("v=STSv1")),
        Record("MTA-STS policy host", f"mta-sts.{name}", "CNAME", f"{host}.", _check_host_alias),
        Record("TLS-RPT", f"_smtp._tls.{name}", "TXT", f"v=TLSRPTv1; rua=mailto:tlsrpt@{name}",
               _txt_starting("v=TLSRPTv1")),
        Record("Thunderbird autoconfig", f"autoconfig.{name}", "CNAME", f"{host}.", _check_host_alias),
        Record("Outlook autodiscover", f"autodiscover.{name}", "CNAME", f"{host}.", _check_host_alias),
        Record("Autodiscover SRV", f"_autodiscover._tcp.{name}", "SRV", f"0 1 443 {host}.", _check_srv),
        Record("Submission (TLS)", f"_submissions._tcp.{name}", "SRV",
               f"0 1 {settings.YUBIN_PORT_SUBMISSIONS} {host}.", _check_srv),
        Record("Submission", f"_submission._tcp.{name}", "SRV", f"0 1 {settings.YUBIN_PORT_SUBMISSION} {host}.",
               _check_srv),
        Record("IMAP (TLS)", f"_imaps._tcp.{name}", "SRV", f"0 1 {settings.YUBIN_PORT_IMAPS} {host}.", _check_srv),
        Record("IMAP", f"_imap._tcp.{name}", "SRV", f"0 1 {settings.YUBIN_PORT_IMAP} {host}.", _check_srv),
        Record("POP3 (TLS)", f"_pop3s._tcp.{name}", "SRV", f"0 1 {settings.YUBIN_PORT_POP3S} {host}.", _check_srv),
    ]  # fmt: skip
    return records


def records_check(records: list[Record], resolver: dns.resolver.Resolver | None = None) -> list[Record]:
    """Look each record up; mark it ok, wrong (something else is published), missing or error."""
    resolver = resolver or resolver_new()
    for record in records:
        if record.checker is None:
            continue
        try:
            right, found = record.checker(record, resolver)
        except (dns.exception.DNSException, OSError) as exc:
            record.status, record.found = "error", [type(exc).__name__ + (f": {exc}" if str(exc) else "")]
            continue
        record.found = found
        record.status = "ok" if right else ("wrong" if found else "missing")
    return records


def zone_text(records: list[Record]) -> str:
    """The records as zone-file lines, to paste into a DNS provider's import."""
    lines = []
    for record in records:
        if record.rtype in ("A/AAAA",):
            continue
        value = f'"{record.value}"' if record.rtype == "TXT" else record.value
        if record.rtype == "TXT" and len(record.value) > 255:
            chunks = [record.value[i : i + 255] for i in range(0, len(record.value), 255)]
            value = "( " + " ".join(f'"{chunk}"' for chunk in chunks) + " )"
        lines.append(f"{record.name}. 3600 IN {record.rtype} {value}")
    return "\n".join(lines) + "\n"
