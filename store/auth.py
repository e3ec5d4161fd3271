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


try:
    from django_auth_ldap.backend import LDAPBackend
except ImportError:  # pragma: no cover - django-auth-ldap is in requirements.txt
    LDAPBackend = object


class LdapAccountBackend(LDAPBackend):  # type: ignore[misc,valid-type]
    """Accounts kept in OpenLDAP (django-auth-ldap), configured from YUBIN_LDAP_* settings.

    On each successful bind the local Account for the entry's `mail` is created (source "ldap",
    default folders, no local password) or refreshed, so the directory entry receives mail like
    any account. The mail domain must be a local domain unless YUBIN_LDAP_ACCOUNT_DOMAIN_CREATE.
    A database account with the same address is never taken over.
    """

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[Account, bool]:
        from django.conf import settings
        from django.core.exceptions import PermissionDenied

        from store.models import Domain
        from store.services.directory import account_create, domain_create

        mail = (ldap_user.attrs.get("mail") or [username])[0]
        try:
            address = normalize_address(mail)
        except AddressError:
            raise PermissionDenied("LDAP entry has no usable mail address") from None
        account = Account.objects.select_related("domain").filter(address=address).first()
        if account is not None:
            if account.source != "ldap":
                raise PermissionDenied("a database account already uses this address")
            return account, False
        domain_name = address.rsplit("@", 1)[1]
        if not Domain.objects.filter(name=domain_name).exists():
            if not getattr(settings, "YUBIN_LDAP_ACCOUNT_DOMAIN_CREATE", False):
                raise PermissionDenied("the LDAP user's mail domain is not a local domain")
            domain_create(name=domain_name)
        display = (ldap_user.attrs.get("cn") or [""])[0]
        return account_create(address=address, password=None, source="ldap", display_name=display[:200]), False

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Account | None:  # type: ignore[override]
        if not username or not password:
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if not isinstance(user, Account) or not user.is_active or not user.domain.active:
            return None
        from django.utils import timezone

        Account.objects.filter(pk=user.pk).update(last_sync=timezone.now())
        return user
