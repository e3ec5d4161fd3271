"""DKIM signing keys per domain (RFC 6376 §3.6.1 key records, RFC 8463 Ed25519).

A domain has at most one active key, the one the relay signs with. Rotating makes a new key with
a new selector active and keeps the former keys, inactive, until removed: their DNS records must
stay published until mail signed with them has been delivered and checked.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.db import transaction
from django.utils import timezone

from store.errors import AlreadyExists, NotFound
from store.models import DkimKey, Domain

RSA_KEY_BITS = 2048  # RFC 8301 §3.2: signers MUST use at least 1024, SHOULD use 2048
ALGORITHMS = ("rsa", "ed25519")


def dkim_selector_new(domain: Domain) -> str:
    """A selector naming the month of creation, unique within the domain (e.g. y202611a)."""
    base = "y" + timezone.now().strftime("%Y%m")
    for suffix in "abcdefghijklmnopqrstuvwxyz":
        if not DkimKey.objects.filter(domain=domain, selector=base + suffix).exists():
            return base + suffix
    return base + secrets.token_hex(3)


def _rsa_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, f"v=DKIM1; k=rsa; p={base64.b64encode(public_der).decode('ascii')}"


def _ed25519_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public_raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_b64 = base64.b64encode(public_raw).decode("ascii")
    return base64.b64encode(seed).decode("ascii"), f"v=DKIM1; k=ed25519; p={public_b64}"


def dkim_key_generate(*, domain: Domain, algorithm: str = "rsa", selector: str = "", activate: bool = True) -> DkimKey:
    """Make a new key; with activate (the default) it becomes the domain's signing key."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown DKIM algorithm: {algorithm}")
    private_key, public_record = _rsa_key() if algorithm == "rsa" else _ed25519_key()
    with transaction.atomic():
        Domain.objects.select_for_update().filter(pk=domain.pk).first()
        chosen = selector or dkim_selector_new(domain)
        if DkimKey.objects.filter(domain=domain, selector=chosen).exists():
            raise AlreadyExists(f"selector already used: {chosen}")
        if activate:
            DkimKey.objects.filter(domain=domain, active=True).update(active=False)
        return DkimKey.objects.create(
            domain=domain,
            selector=chosen,
            algorithm=algorithm,
            private_key=private_key,
            public_record=public_record,
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
