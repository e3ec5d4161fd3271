"""Who may see and change what in the admin panel: the one place that decides access.

Three roles (store.models.Role): a superadmin sees everything; a domain administrator sees only
the domains given to them (Account.admin_domains) and what belongs to those domains; a user has
no access. Every view gets its objects through these `*_for_admin` selectors, so an object of
another domain is simply not found (404), whether its id comes from a URL or a form post.

Accounts with an administrator role are managed by superadmins only: a domain administrator who
could reset another administrator's password could take over that administrator's other domains.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from admin_panel.models import AuditEntry
from store.models import (
    Account,
    Alias,
    DeliveryLog,
    DkimKey,
    Domain,
    LoginEvent,
    OutboundMessage,
    OutboundRecipient,
    Role,
    SieveScript,
)


def is_admin(account: object) -> bool:
    return isinstance(account, Account) and account.is_active and account.role in (Role.SUPERADMIN, Role.DOMAIN_ADMIN)


def is_superadmin(account: object) -> bool:
    return is_admin(account) and isinstance(account, Account) and account.role == Role.SUPERADMIN


def domains_for_admin(account: object) -> QuerySet[Domain]:
    if is_superadmin(account):
        return Domain.objects.all()
    if is_admin(account):
        return Domain.objects.filter(admins__pk=account.pk)  # type: ignore[attr-defined]  # is_admin: an Account
    return Domain.objects.none()


def domain_names_for_admin(account: object) -> list[str]:
    return list(domains_for_admin(account).values_list("name", flat=True))


def accounts_for_admin(account: object) -> QuerySet[Account]:
    accounts = Account.objects.select_related("domain")
    if is_superadmin(account):
        return accounts
    if is_admin(account):
        return accounts.filter(domain__in=domains_for_admin(account), role=Role.USER)
    return accounts.none()


def aliases_for_admin(account: object) -> QuerySet[Alias]:
    return Alias.objects.select_related("domain").filter(domain__in=domains_for_admin(account))


def dkim_keys_for_admin(account: object) -> QuerySet[DkimKey]:
    return DkimKey.objects.select_related("domain").filter(domain__in=domains_for_admin(account))


def scripts_for_admin(account: object) -> QuerySet[SieveScript]:
    """Domain scripts of the admin's domains and scripts of the accounts they manage."""
    return SieveScript.objects.select_related("account", "domain").filter(
        Q(domain__in=domains_for_admin(account)) | Q(account__in=accounts_for_admin(account))
    )


def _address_in_domains(field: str, names: list[str]) -> Q:
    """Q for 'the address in field ends with @one-of-names' (no match when names is empty)."""
    if not names:
        return Q(pk__in=[])
    return reduce(or_, (Q(**{f"{field}__iendswith": f"@{name}"}) for name in names))


def queue_for_admin(account: object) -> QuerySet[OutboundMessage]:
    """Outbound messages sent from the admin's domains (by envelope sender or submitting account)."""
    messages = OutboundMessage.objects.all()
    if is_superadmin(account):
        return messages
    names = domain_names_for_admin(account)
    return messages.filter(_address_in_domains("sender", names) | _address_in_domains("submitted_by", names))


def queue_recipients_for_admin(account: object) -> QuerySet[OutboundRecipient]:
    return OutboundRecipient.objects.select_related("message").filter(message__in=queue_for_admin(account))


def delivery_log_for_admin(account: object) -> QuerySet[DeliveryLog]:
    """Delivery log lines whose sender or recipient is in the admin's domains."""
    lines = DeliveryLog.objects.all()
    if is_superadmin(account):
        return lines
    if not is_admin(account):
        return lines.none()
    names = domain_names_for_admin(account)
    return lines.filter(_address_in_domains("sender", names) | _address_in_domains("recipient", names))


def login_events_for_admin(account: object) -> QuerySet[LoginEvent]:
    events = LoginEvent.objects.all()
    if is_superadmin(account):
        return events
    if not is_admin(account):
        return events.none()
    return events.filter(_address_in_domains("address", domain_names_for_admin(account)))


def audit_for_admin(account: object) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if is_superadmin(account):
        return entries
    if not is_admin(account):
        return entries.none()
    return entries.filter(domain__in=domain_names_for_admin(account))
