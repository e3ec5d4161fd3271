"""DKIM key services: generation, rotation, removal."""

from __future__ import annotations

import base64

import dkim
import pytest

from store.models import DkimKey
from store.services import domain_create
from store.services.dkim import dkim_key_activate, dkim_key_generate, dkim_key_remove


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_generated_key_signs_and_record_verifies(algorithm):
    """A generated key signs a message that verifies against its published record."""
    domain = domain_create(name="keys.test")
    key = dkim_key_generate(domain=domain, algorithm=algorithm)
    message = b"From: a@keys.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    private = key.private_key.encode() if algorithm == "rsa" else base64.b64encode(base64.b64decode(key.private_key))
    signature = dkim.sign(
        message,
        key.selector.encode(),
        b"keys.test",
        private,
        signature_algorithm=b"rsa-sha256" if algorithm == "rsa" else b"ed25519-sha256",
        include_headers=[b"from", b"to", b"subject"],
    )
    record = key.public_record.encode()
    assert dkim.verify(signature + message, dnsfunc=lambda name, timeout=5: record)


@pytest.mark.django_db
def test_rotation_keeps_one_active():
    """Rotating makes the new key the only active one; the old one stays until removed."""
    domain = domain_create(name="keys.test")
    first = dkim_key_generate(domain=domain)
    second = dkim_key_generate(domain=domain, algorithm="ed25519")
    assert first.selector != second.selector
    assert list(DkimKey.objects.filter(domain=domain, active=True)) == [second]
    with pytest.raises(ValueError):
        dkim_key_remove(key_id=second.pk)
    dkim_key_activate(key_id=first.pk)
    dkim_key_remove(key_id=second.pk)
    assert list(DkimKey.objects.filter(domain=domain)) == [DkimKey.objects.get(pk=first.pk)]
