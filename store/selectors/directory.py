"""Directory selectors; the webmail may use these public ones (addresses, display name)."""

from __future__ import annotations

from django.db.models import TextField
from django.db.models.functions import Cast

from store.addresses import AddressError, normalize_address
from store.models import Account, Alias, Domain, Folder


def account_by_address(address: str) -> Account | None:
    try:
        normalized = normalize_address(address)
    except AddressError:
        return None
    return Account.objects.select_related("domain").filter(address=normalized).first()


def domain_is_local(name: str) -> bool:
    return Domain.objects.filter(name=name.lower().rstrip("."), active=True).exists()


def account_addresses(account: Account) -> list[str]:
    """The addresses an account may send as: its own and every alias that leads only to it."""
    addresses = [account.address]
    candidates = (
        Alias.objects.filter(active=True)
        .exclude(source__startswith="@")
        .annotate(destinations_text=Cast("destinations", TextField()))
        .filter(destinations_text__contains=f'"{account.address}"')
    )
    for alias in candidates:
        if account.address in alias.destinations:
            addresses.append(alias.source)
    return addresses


def folders_of_account(account: Account) -> list[Folder]:
    return list(Folder.objects.filter(account=account).order_by("name"))


def folder_by_name(account: Account, name: str) -> Folder | None:
    from store.services.folders import folder_name_normalize

    try:
        stored = folder_name_normalize(name)
    except Exception:
        return None
    return Folder.objects.filter(account=account, name=stored).first()
