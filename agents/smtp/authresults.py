"""Sender verification on the MX: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489).

pyspf, dkimpy and authheaders do the work; every DNS query goes through agents.dns (so
YUBIN_DNS_RESOLVERS applies). The result is an Authentication-Results header (RFC 8601) and
whether the sender domain's DMARC policy asks us to reject.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
import spf
from authheaders import check_dkim, check_dmarc
from authres import AuthenticationResultsHeader, SPFAuthenticationResult

from agents.dns import DnsTemporaryError, resolver, txt_lookup

SPF_LOOKUP_SECONDS = 10


def _spf_dns(name: str, qtype: str, strict: bool = True, timeout: float = 20) -> list:
    """pyspf's DNSLookup hook (same shape as spf.DNSLookup_dnspython) on our resolver."""
    found: list = []
    try:
        answer = resolver().resolve(name, qtype, lifetime=timeout)
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return found
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise spf.TempError(f"DNS {error}") from None
    for rdata in answer:
        if qtype in ("A", "AAAA"):
            found.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            found.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            found.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            found.append(((name, qtype), rdata.strings))
    return found


spf.DNSLookup = _spf_dns  # pyspf's documented hook for its DNS backend


def _dkim_dns(name: bytes | str, timeout: float = 5) -> bytes | None:
    records = txt_lookup(name.decode() if isinstance(name, bytes) else name)
    return records[0] if records else None


def _dmarc_dns(name: str) -> str | None:
    try:
        records = txt_lookup(name)
    except DnsTemporaryError:
        return None
    for record in records:
        text = record.decode("utf-8", "replace")
        if text.startswith("v=DMARC1"):
            return text
    return None


@dataclass(frozen=True)
class Verification:
    header: str  # "Authentication-Results: ..." without the line break
    spf: str
    dkim: str
    dmarc: str
    dmarc_policy: str

    @property
    def dmarc_reject(self) -> bool:
        return self.dmarc == "fail" and self.dmarc_policy == "reject"


def sender_verify(*, raw: bytes, client_ip: str, helo: str, mail_from: str, authserv_id: str) -> Verification:
    """Verify SPF for the envelope, DKIM signatures and DMARC alignment of the From domain."""
    sender = mail_from or f"postmaster@{helo}"
    try:
        spf_result, spf_reason = spf.check2(i=client_ip, s=sender, h=helo, querytime=SPF_LOOKUP_SECONDS)
    except Exception as error:  # pyspf raises on some malformed input; treat as temperror
        spf_result, spf_reason = "temperror", str(error)
    spf_res = SPFAuthenticationResult(
        result=spf_result, reason=spf_reason, smtp_mailfrom=mail_from or None, smtp_helo=helo
    )
    dkim_res = check_dkim(raw, dnsfunc=_dkim_dns)
    try:
        dmarc_res = check_dmarc(raw, spf_res, dkim_res, dnsfunc=_dmarc_dns)
    except Exception:
        dmarc_res = None
    results = [spf_res, dkim_res] + ([dmarc_res] if dmarc_res is not None else [])
    header = str(AuthenticationResultsHeader(authserv_id=authserv_id, results=results))
    return Verification(
        header=header,
        spf=str(spf_result),
        dkim=str(dkim_res.result or "none"),
        dmarc=str(getattr(dmarc_res, "result", "none") or "none"),
        dmarc_policy=str(getattr(dmarc_res, "policy", "") or ""),
    )
