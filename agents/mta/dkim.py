"""DKIM signing of outgoing mail from local domains (RFC 6376, RFC 8463 ed25519), with dkimpy.

Canonicalisation relaxed/relaxed; the signing domain is the From: header's domain when it has a
key (what DMARC aligns on, RFC 7489 §3.1.1), else the envelope sender's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from email.utils import getaddresses
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from agents.mta.mime import header_block
from store.models import DkimKey
from store.selectors.dkim import dkim_key_active

log = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 60  # a new key (`yubin dkim generate`) is used within a minute by every worker
_key_cache: dict[str, tuple[float, DkimKey | None]] = {}


def _signing_key(domain: str) -> DkimKey | None:
    """The domain's active key, looked up at most once a minute per process."""
    now = time.monotonic()
    cached = _key_cache.get(domain)
    if cached is not None and cached[0] > now:
        return cached[1]
    key = dkim_key_active(domain)
    _key_cache[domain] = (now + KEY_CACHE_SECONDS, key)
    return key


def dkim_key_cache_clear() -> None:
    _key_cache.clear()
    _parsed_keys.clear()


# RSA signing through OpenSSL (cryptography), with each domain's key parsed once per process.
# dkimpy parses the PEM on every call (about 1 ms) and signs with Python integers (about 20 ms
# for 2048 bits); OpenSSL signs the same PKCS#1 v1.5 digest, with the same bytes as result, in
# well under 1 ms. dkimpy still does everything else (canonicalisation, header hashing, the
# header field); its two RSA hooks below hand a key of ours to OpenSSL and anything else to the
# original functions, so verification and other callers are unchanged.
_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}
_parsed_keys: dict[tuple[int, str], _OpenSslKey] = {}


class _OpenSslKey(bytes):
    """The PEM bytes (what dkimpy expects) carrying the parsed OpenSSL key."""

    key: rsa.RSAPrivateKey


def _openssl_key(key: DkimKey) -> bytes:
    cache_key = (key.pk, hashlib.sha256(key.private_key.encode()).hexdigest())
    parsed = _parsed_keys.get(cache_key)
    if parsed is None:
        pem = key.private_key.encode()
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            return pem  # not RSA: dkimpy's own path (and its error)
        parsed = _OpenSslKey(pem)
        parsed.key = loaded
        _parsed_keys[cache_key] = parsed
    return parsed


_original_parse = dkim.parse_pem_private_key
_original_sign = dkim.RSASSA_PKCS1_v1_5_sign


def _parse_pem_private_key(data: bytes) -> Any:
    return data if isinstance(data, _OpenSslKey) else _original_parse(data)


def _rsa_sign(digest: Any, private_key: Any) -> bytes:
    if isinstance(private_key, _OpenSslKey):
        algorithm = _HASHES[digest.name]()
        return private_key.key.sign(digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))
    return bytes(_original_sign(digest, private_key))


dkim.parse_pem_private_key = _parse_pem_private_key
dkim.RSASSA_PKCS1_v1_5_sign = _rsa_sign


# Headers signed (RFC 6376 §5.4.1's recommended set); From is also signed twice-over by dkimpy's
# oversigning default so a second From cannot be added later.
SIGNED_HEADERS = [
    b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc",
    b"mime-version", b"content-type", b"content-transfer-encoding", b"content-id",
    b"content-description", b"resent-date", b"resent-from", b"resent-sender", b"resent-to",
    b"resent-cc", b"resent-message-id", b"in-reply-to", b"references", b"list-id",
    b"list-help", b"list-unsubscribe", b"list-subscribe", b"list-post", b"list-owner", b"list-archive",
]  # fmt: skip


def _from_fields(raw: bytes) -> list[str]:
    """The unfolded values of the From: fields of the header block (RFC 5322 §2.2.3), read as
    the email package's compat32 parser reads them, which the whole-header parse cost per message."""
    values: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in header_block(raw).split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or b" " in name or b"\t" in name:
            break  # not a header field: the parser ends the header block here too
        current = [value] if name.lower() == b"from" else None
        if current is not None:
            values.append(current)
    return [b"".join(value).decode("ascii", "surrogateescape").strip() for value in values]


def _from_domain(raw: bytes) -> str:
    for _, address in getaddresses(_from_fields(raw)):
        if "@" in address:
            return address.rsplit("@", 1)[1].lower()
    return ""


def dkim_signature(raw: bytes, *, sender: str) -> bytes:
    """The DKIM-Signature header line(s) to prepend, or b"" when no local key applies."""
    candidates = [_from_domain(raw), sender.rpartition("@")[2].lower()]
    for domain in dict.fromkeys(d for d in candidates if d):
        key = _signing_key(domain)
        if key is None:
            continue
        algorithm = b"ed25519-sha256" if key.algorithm == "ed25519" else b"rsa-sha256"
        try:
            private_key = key.private_key.encode() if key.algorithm == "ed25519" else _openssl_key(key)
            return bytes(
                dkim.sign(
                    raw,
                    key.selector.encode(),
                    domain.encode(),
                    private_key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=algorithm,
                    include_headers=SIGNED_HEADERS,
                    linesep=b"\r\n",
                )
            )
        except dkim.DKIMException as exc:
            log.warning("DKIM signing for %s failed: %s", domain, exc)
            return b""
    return b""
