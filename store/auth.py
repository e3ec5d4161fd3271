"""Authentication backends for Django's authenticate(): database accounts (Argon2) and LDAP.

Every protocol and both web apps go through django.contrib.auth.authenticate() (DESIGN rule 6);
agents.auth adds the shared failure throttle and the verified-credential cache around it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from store.addresses import AddressError, normalize_address
from store.models import Account


class AccountBackend(BaseBackend):
    """Accounts kept in the database; inactive accounts and disabled domains cannot log in."""

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Account | None:
        if not username or password is None:
            return None
        try:
            address = normalize_address(username)
        except AddressError:
            return None
        account = Account.objects.select_related("domain").filter(address=address).first()
        if account is None:
            # Spend the same time as a real check so timing does not reveal which addresses exist.
            Account().set_password(password)
            return None
        if account.source != "db" or not account.check_password(password):
            return None
        if not account.is_active or not account.domain.active:
            return None
        return account

    def get_user(self, user_id: int) -> Account | None:
        account = Account.objects.select_related("domain").filter(pk=user_id).first()
        if account is None or not account.is_active or not account.domain.active:
            return None
        return account
