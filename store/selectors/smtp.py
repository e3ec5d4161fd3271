"""Selectors for SMTP and delivery: resolve a recipient through accounts and aliases; Sieve scripts.

Alias expansion follows Postfix's virtual_alias_maps: an exact alias wins over the account, the
'@domain' catch-all applies only when neither an account nor an exact alias exists, expansion
is recursive to MAX_ALIAS_DEPTH, and a loop ends the branch that loops (the others still count).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from store.addresses import AddressError, normalize_address, split_address
from store.models import Account, Alias, Domain, Role, SieveScript
from store.sql import driver_cursor

MAX_ALIAS_DEPTH = 10  # Postfix's virtual_alias_recursion_limit is 1000; ours is plenty for humans
MAX_ALIAS_EXPANSION = 1000  # Postfix's virtual_alias_expansion_limit


@dataclass(frozen=True)
class LocalAccount:
    account_id: int
    address: str
    domain_id: int
    quota: int
    used_bytes: int


@dataclass
class RecipientResolution:
    local_domain: bool
    accounts: list[LocalAccount] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    loop: bool = False

    @property
    def found(self) -> bool:
        return bool(self.accounts or self.remote)


def _account(address: str) -> LocalAccount | None:
    row = (
        Account.objects.filter(address=address, is_active=True, domain__active=True)
        .values_list("pk", "address", "domain_id", "quota", "used_bytes")
        .first()
    )
    return LocalAccount(*row) if row else None


def _alias(address: str) -> list[str] | None:
    row = Alias.objects.filter(source=address, active=True).values_list("destinations", flat=True).first()
    return list(row) if row is not None else None


def _postmasters(domain: str | None) -> list[LocalAccount]:
    """Who reads postmaster mail that no account or alias takes (RFC 5321 §4.5.1: every system
    that delivers mail MUST accept "postmaster"): the domain's administrators, else the site's
    superadministrators."""
    accounts = Account.objects.filter(is_active=True, domain__active=True).order_by("pk")
    fields = ("pk", "address", "domain_id", "quota", "used_bytes")
    rows = list(accounts.filter(admin_domains__name=domain).values_list(*fields)) if domain else []
    if not rows:
        rows = list(accounts.filter(role=Role.SUPERADMIN).values_list(*fields))
    return [LocalAccount(*row) for row in rows]


def local_domains() -> set[str]:
    return set(Domain.objects.filter(active=True).values_list("name", flat=True))


def recipient_resolve(address: str) -> RecipientResolution:
    """Expand one envelope recipient into local accounts and remote addresses."""
    try:
        normalized = normalize_address(address)
    except AddressError:
        # A local part no account can have ("a@b"@local, odd characters): local, but nobody.
        return RecipientResolution(local_domain=address.rpartition("@")[2].lower() in local_domains())
    local_part, domain = split_address(normalized)
    postmaster = local_part.lower() == "postmaster"
    domains = local_domains()
    if domain not in domains:
        if postmaster and domain == settings.YUBIN_HOSTNAME.lower():  # also what "<Postmaster>" means
            return RecipientResolution(local_domain=True, accounts=_postmasters(None))
        return RecipientResolution(local_domain=False, remote=[address])
    result = RecipientResolution(local_domain=True)
    seen_accounts: set[int] = set()

    def walk(current: str, path: tuple[str, ...]) -> None:
        if len(result.accounts) + len(result.remote) >= MAX_ALIAS_EXPANSION:
            return
        current_domain = split_address(current)[1]
        if current_domain not in domains:
            if current not in result.remote:
                result.remote.append(current)
            return
        if current in path or len(path) > MAX_ALIAS_DEPTH:
            result.loop = True
            return
        destinations = _alias(current)
        if destinations is None:
            account = _account(current)
            if account is not None:
                if account.account_id not in seen_accounts:
                    seen_accounts.add(account.account_id)
                    result.accounts.append(account)
                return
            destinations = _alias(f"@{current_domain}")
            if destinations is None:
                return
        for destination in destinations:
            walk(destination.lower(), (*path, current))

    walk(normalized, ())
    if postmaster and not result.found and not result.loop:
        result.accounts = _postmasters(domain)
    return result


def sieve_scripts_for(account_id: int, domain_id: int) -> list[tuple[int, str, str]]:
    """Active scripts to run for an account: (id, name, content), the domain's first."""
    scripts: list[tuple[int, str, str]] = []
    domain_script = SieveScript.objects.filter(domain_id=domain_id, active=True).values_list("pk", "name", "content")
    scripts.extend(domain_script[:1])
    account_script = SieveScript.objects.filter(account_id=account_id, active=True).values_list("pk", "name", "content")
    scripts.extend(account_script[:1])
    return scripts


def sieve_scripts_for_many(
    owners: set[tuple[int, int]],
) -> dict[tuple[int, int], list[tuple[int, str, str]]]:
    """sieve_scripts_for for many (account_id, domain_id) pairs with one query."""

    if not owners:
        return {}
    account_ids = sorted({account_id for account_id, _ in owners})
    domain_ids = sorted({domain_id for _, domain_id in owners})
    by_account: dict[int, tuple[int, str, str]] = {}
    by_domain: dict[int, tuple[int, str, str]] = {}
    # Raw SQL: this runs once per delivery batch, where the ORM's query building costs more
    # than the query.
    with driver_cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, content, account_id, domain_id FROM {SieveScript._meta.db_table} "  # noqa: S608
            f"WHERE active = %s AND (account_id IN ({', '.join(['%s'] * len(account_ids))}) "
            f"OR domain_id IN ({', '.join(['%s'] * len(domain_ids))})) ORDER BY id",
            [True, *account_ids, *domain_ids],
        )
        rows = cursor.fetchall()
    for pk, name, content, account_id, domain_id in rows:
        if account_id is not None:
            by_account.setdefault(account_id, (pk, name, content))
        elif domain_id is not None:
            by_domain.setdefault(domain_id, (pk, name, content))
    result: dict[tuple[int, int], list[tuple[int, str, str]]] = {}
    for account_id, domain_id in owners:
        scripts = [by_domain[domain_id]] if domain_id in by_domain else []
        if account_id in by_account:
            scripts.append(by_account[account_id])
        result[(account_id, domain_id)] = scripts
    return result
