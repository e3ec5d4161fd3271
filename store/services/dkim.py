"""DKIM signing keys per domain (RFC 6376 §3.6.1 key records, RFC 8463 Ed25519).

RSA keys are 2048 bits by default (rsa-sha256); ed25519 keys keep the 32-byte seed
base64-encoded, as dkimpy signs with it. A domain has at most one active key, the one the relay
signs with. Rotating makes a new key with a new selector active and keeps the former keys,
inactive, until removed: their DNS records must stay published until mail signed with them has
been delivered and checked.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.db import transaction
from django.utils import timezone

from store.addresses import normalize_domain
from store.errors import InvalidName, NotFound
from store.models import DkimKey, Domain

RSA_BITS_DEFAULT = 2048  # RFC 8301 §3.2: signers MUST use at least 1024, SHOULD use 2048
ALGORITHMS = ("rsa", "ed25519")
TXT_STRING_MAX = 255  # RFC 1035 §3.3: one character-string


def _rsa_key(bits: int) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode("ascii")


def _ed25519_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed).decode("ascii"), base64.b64encode(public).decode("ascii")


def dkim_selector_default(domain: Domain) -> str:
    """`yYYYYMM`, with a letter added when this month's selector is taken (key rotation)."""
    base = "y" + timezone.now().strftime("%Y%m")
    taken = set(DkimKey.objects.filter(domain=domain).values_list("selector", flat=True))
    if base not in taken:
        return base
    for suffix in "bcdefghijklmnopqrstuvwxyz":
        if base + suffix not in taken:
            return base + suffix
    raise InvalidName("no free DKIM selector this month")


def dkim_key_generate(
    *,
    domain: Domain | str,
    algorithm: str = "rsa",
    selector: str = "",
    bits: int = RSA_BITS_DEFAULT,
    activate: bool = True,
) -> DkimKey:
    """Make a new key for a local domain; with activate (the default) it becomes the signing key."""
    if algorithm not in ALGORITHMS:
        raise InvalidName(f"unknown DKIM algorithm {algorithm!r}: use rsa or ed25519")
    if algorithm == "rsa" and bits < 1024:
        raise InvalidName("RSA DKIM keys need at least 1024 bits (RFC 8301)")
    name = domain.name if isinstance(domain, Domain) else normalize_domain(domain)
    with transaction.atomic():
        domain_row = Domain.objects.select_for_update().filter(name=name).first()
        if domain_row is None:
            raise NotFound(f"no such domain: {name}")
        chosen = selector.strip().lower() or dkim_selector_default(domain_row)
        if not chosen.replace("-", "").replace(".", "").isalnum():
            raise InvalidName(f"invalid DKIM selector: {selector!r}")
        if DkimKey.objects.filter(domain=domain_row, selector=chosen).exists():
            raise InvalidName(f"selector {chosen} already exists for {name}")
        private, public = _rsa_key(bits) if algorithm == "rsa" else _ed25519_key()
        if activate:
            DkimKey.objects.filter(domain=domain_row, active=True).update(active=False)
        return DkimKey.objects.create(
            domain=domain_row,
            selector=chosen,
            algorithm=algorithm,
            private_key=private,
            public_record=f"v=DKIM1; k={algorithm}; p={public}",
            active=activate,
        )


def dkim_key_activate(*, key_id: int) -> DkimKey:
    with transaction.atomic():
        key = DkimKey.objects.select_for_update().filter(pk=key_id).first()
        if key is None:
            raise NotFound(f"no such DKIM key: {key_id}")
        DkimKey.objects.filter(domain_id=key.domain_id, active=True).exclude(pk=key.pk).update(active=False)
        key.active = True
        key.save(update_fields=["active"])
    return key


def dkim_key_remove(*, key_id: int) -> None:
    """Remove an inactive key; the active signing key must be replaced first."""
    key = DkimKey.objects.filter(pk=key_id).first()
    if key is None:
        raise NotFound(f"no such DKIM key: {key_id}")
    if key.active:
        raise ValueError("the active key cannot be removed; rotate first")
    key.delete()


def dkim_zone_line(key: DkimKey) -> str:
    """The record to publish as one zone-file line, TXT strings cut at 255 bytes."""
    record = key.public_record
    chunks = " ".join(f'"{record[i : i + TXT_STRING_MAX]}"' for i in range(0, len(record), TXT_STRING_MAX))
    return f"{key.selector}._domainkey.{key.domain.name}. IN TXT {chunks}"
