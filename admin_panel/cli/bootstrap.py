"""`yubin bootstrap`: on a fresh install, create the demo domain and a superadmin (printed once)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings

from store.models import Account, Domain, Role
from store.services import account_create, domain_create


def register(groups: Any) -> None:
    parser = groups.add_parser("bootstrap", help="first run: create the demo domain and a superadmin")
    parser.set_defaults(handler=bootstrap)


def bootstrap(options: dict[str, Any], out: Any) -> None:
    if Account.objects.exists():
        return
    domain_name = settings.YUBIN_DEMO_DOMAIN
    if not Domain.objects.filter(name=domain_name).exists():
        domain_create(name=domain_name)
    password = secrets.token_urlsafe(12)
    admin = account_create(address=f"admin@{domain_name}", password=password, role=Role.SUPERADMIN)
    out.write(f"Created demo domain {domain_name} and superadmin {admin.address}")
    out.write(f"  password (shown once): {password}")
