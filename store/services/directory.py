"""Directory services: domains, accounts and aliases."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from store.addresses import normalize_address, normalize_domain, split_address
from store.errors import AliasLoop, AlreadyExists, LimitReached, NotFound
from store.models import Account, Alias, Domain, Role

MAX_ALIAS_DEPTH = 10  # like Postfix's virtual_alias_recursion_limit (1000 is its expansion limit)


def domain_create(*, name: str, quota: int = 0, max_accounts: int = 0, max_message_size: int = 0) -> Domain:
    domain_name = normalize_domain(name)
    try:
        with transaction.atomic():
            return Domain.objects.create(
                name=domain_name, default_quota=quota, max_accounts=max_accounts, max_message_size=max_message_size
            )
    except IntegrityError:
        raise AlreadyExists(f"domain already exists: {domain_name}") from None


def domain_update(*, domain: Domain, **changes: object) -> Domain:
    allowed = {"active", "default_quota", "max_accounts", "max_message_size"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(domain, field, value)
    domain.save(update_fields=list(changes))
    return domain


def domain_remove(*, name: str) -> None:
    """Remove a domain with its accounts, aliases and their mail."""
    domain_name = normalize_domain(name)
    with transaction.atomic():
        domain = Domain.objects.filter(name=domain_name).first()
        if domain is None:
            raise NotFound(f"no such domain: {domain_name}")
        for account in list(domain.accounts.all()):
            account_remove(address=account.address)
        domain.delete()


def account_create(
    *,
    address: str,
    password: str | None,
    role: str = Role.USER,
    quota: int | None = None,
    display_name: str = "",
    source: str = "db",
) -> Account:
    """Create an account with its default folders (INBOX, Sent, Drafts, Trash, Junk, Archive)."""
    from store.services.folders import folder_create_defaults

    normalized = normalize_address(address)
    _, domain_name = split_address(normalized)
    if role not in Role.values:
        raise ValueError(f"unknown role: {role}")
    with transaction.atomic():
        domain = Domain.objects.select_for_update().filter(name=domain_name).first()
        if domain is None:
            raise NotFound(f"no such domain: {domain_name}")
        if domain.max_accounts and domain.accounts.count() >= domain.max_accounts:
            raise LimitReached(f"domain {domain_name} already has its maximum of {domain.max_accounts} accounts")
        if Account.objects.filter(address=normalized).exists():
            raise AlreadyExists(f"account already exists: {normalized}")
        if Alias.objects.filter(source=normalized).exists():
            raise AlreadyExists(f"an alias already uses this address: {normalized}")
        if quota is None:
            quota = domain.default_quota or settings.YUBIN_DEFAULT_QUOTA
        account = Account(
            address=normalized, domain=domain, role=role, quota=quota, display_name=display_name, source=source
        )
        if password is None:
            account.set_unusable_password()
        else:
            account.set_password(password)
        account.password_changed = timezone.now()
        account.save()
        folder_create_defaults(account=account)
    return account


def account_update(*, account: Account, **changes: object) -> Account:
    allowed = {"display_name", "role", "quota", "is_active", "settings", "last_sync"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(account, field, value)
    account.save(update_fields=list(changes))
    return account


def account_set_password(*, address: str, password: str) -> Account:
    account = Account.objects.filter(address=normalize_address(address)).first()
    if account is None:
        raise NotFound(f"no such account: {address}")
    account.set_password(password)
    account.password_changed = timezone.now()
    account.save(update_fields=["password", "password_changed"])
    return account


def account_remove(*, address: str) -> None:
    """Remove an account and its mail; blobs no longer referenced are left to the GC sweep."""
    from store.services.blobs import blob_release_for_folders

    normalized = normalize_address(address)
    with transaction.atomic():
        account = Account.objects.filter(address=normalized).first()
        if account is None:
            raise NotFound(f"no such account: {normalized}")
        blob_release_for_folders(folder_ids=list(account.folders.values_list("id", flat=True)))
        account.delete()


def _alias_source(source: str) -> tuple[str, str]:
    text = source.strip()
    if text.startswith("@"):
        domain_name = normalize_domain(text[1:])
        return f"@{domain_name}", domain_name
    normalized = normalize_address(text)
    return normalized, split_address(normalized)[1]


def alias_create(*, source: str, destinations: list[str]) -> Alias:
    """Create an alias (or '@domain' catch-all); refuses loops and unknown local destinations."""
    key, domain_name = _alias_source(source)
    targets = [normalize_address(d) for d in destinations]
    if not targets:
        raise ValueError("an alias needs at least one destination")
    with transaction.atomic():
        domain = Domain.objects.filter(name=domain_name).first()
        if domain is None:
            raise NotFound(f"no such domain: {domain_name}")
        if Alias.objects.filter(source=key).exists() or Account.objects.filter(address=key).exists():
            raise AlreadyExists(f"address already in use: {key}")
        local_domains = set(Domain.objects.values_list("name", flat=True))
        for target in targets:
            target_domain = split_address(target)[1]
            if target_domain in local_domains and not _local_address_exists(target):
                raise NotFound(f"no such local address: {target}")
        alias = Alias.objects.create(source=key, domain=domain, destinations=list(dict.fromkeys(targets)))
        _check_alias_loop(key)
    return alias


def _local_address_exists(address: str) -> bool:
    return Account.objects.filter(address=address).exists() or Alias.objects.filter(source=address).exists()


def _check_alias_loop(start: str) -> None:
    """Refuse an alias whose expansion comes back to itself or nests deeper than the limit."""

    def walk(address: str, path: tuple[str, ...]) -> None:
        if len(path) > MAX_ALIAS_DEPTH:
            raise AliasLoop(f"alias nesting deeper than {MAX_ALIAS_DEPTH}: {' -> '.join(path)}")
        alias = Alias.objects.filter(source=address).first()
        if alias is None:
            return
        for target in alias.destinations:
            if target in path:
                raise AliasLoop(f"alias loop: {' -> '.join((*path, target))}")
            walk(target, (*path, target))

    walk(start, (start,))


def alias_update(*, source: str, destinations: list[str], active: bool = True) -> Alias:
    """Replace an alias's destinations (same checks as alias_create: local targets exist, no loop)."""
    key, _ = _alias_source(source)
    targets = [normalize_address(d) for d in destinations]
    if not targets:
        raise ValueError("an alias needs at least one destination")
    with transaction.atomic():
        alias = Alias.objects.select_for_update().filter(source=key).first()
        if alias is None:
            raise NotFound(f"no such alias: {key}")
        local_domains = set(Domain.objects.values_list("name", flat=True))
        for target in targets:
            if split_address(target)[1] in local_domains and not _local_address_exists(target):
                raise NotFound(f"no such local address: {target}")
        alias.destinations = list(dict.fromkeys(targets))
        alias.active = active
        alias.save(update_fields=["destinations", "active"])
        _check_alias_loop(key)
    return alias


def account_admin_domains_set(*, account: Account, domains: list[Domain]) -> Account:
    """Set the domains a domain administrator manages."""
    with transaction.atomic():
        account.admin_domains.set(domains)
    return account


def alias_remove(*, source: str) -> None:
    key, _ = _alias_source(source)
    deleted, _ = Alias.objects.filter(source=key).delete()
    if not deleted:
        raise NotFound(f"no such alias: {key}")
