"""Bulk account changes from CSV: parse and check every line first, write only a clean file.

Columns: address, display_name, quota, active, password (a header line naming them is optional).
A line for a new address creates the account (an empty password is generated and shown once);
a line for an existing account updates what is given (empty fields are left as they are).
Export writes the same columns (the password column empty) and then role, used_bytes and source,
which an import ignores, so an export edited and imported back works.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from admin_panel.access import accounts_for_admin, domains_for_admin
from store.addresses import AddressError, normalize_address, split_address
from store.models import Account, Alias
from store.services import account_create, account_set_password, account_update
from yubin.config import parse_size

COLUMNS = ("address", "display_name", "quota", "active", "password")
EXPORT_ONLY_COLUMNS = ("role", "used_bytes", "source")  # informational; ignored on import
MAX_LINES = 20_000
MIN_PASSWORD_LENGTH = 8
_TRUE = {"1", "yes", "true", "y", "on"}
_FALSE = {"0", "no", "false", "n", "off"}


@dataclass
class ImportLine:
    number: int
    address: str = ""
    action: str = ""  # create | update | unchanged
    changes: dict[str, Any] = field(default_factory=dict)
    password: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    lines: list[ImportLine]
    errors: list[str] = field(default_factory=list)  # errors of the file as a whole

    @property
    def ok(self) -> bool:
        return not self.errors and not any(line.errors for line in self.lines)

    def changed_by_domain(self) -> dict[str, list[str]]:
        changed: dict[str, list[str]] = {}
        for line in self.lines:
            if line.action in ("create", "update") and not line.errors:
                changed.setdefault(split_address(line.address)[1], []).append(line.address)
        return changed

    def count(self, action: str) -> int:
        return sum(1 for line in self.lines if line.action == action and not line.errors)


def _rows(text: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if rows and rows[0][1] and rows[0][1][0].strip().lower() == "address":
        rows = rows[1:]
    return rows


def import_plan(admin: object, text: str) -> ImportPlan:
    """Check every line against the directory and the admin's rights; nothing is written."""
    try:
        rows = _rows(text)
    except csv.Error as exc:
        return ImportPlan(lines=[], errors=[_("The file is not valid CSV: %(error)s") % {"error": exc}])
    if len(rows) > MAX_LINES:
        return ImportPlan(lines=[], errors=[_("At most %(n)d lines at once.") % {"n": MAX_LINES}])
    if not rows:
        return ImportPlan(lines=[], errors=[_("The file has no lines.")])
    domains = {d.name: d for d in domains_for_admin(admin)}
    lines = [_check_row(admin, number, row, domains) for number, row in rows]
    seen = Counter(line.address for line in lines if line.address)
    for line in lines:
        if line.address and seen[line.address] > 1:
            line.errors.append(_("This address appears more than once in the file."))
    new_per_domain = Counter(split_address(line.address)[1] for line in lines if line.action == "create")
    for name, new_count in new_per_domain.items():
        domain = domains[name]
        if domain.max_accounts and domain.accounts.count() + new_count > domain.max_accounts:
            for line in lines:
                if line.action == "create" and line.address.endswith(f"@{name}"):
                    line.errors.append(
                        _("Domain %(domain)s allows at most %(n)d accounts.")
                        % {"domain": name, "n": domain.max_accounts}
                    )
    return ImportPlan(lines=lines)


def _check_row(admin: object, number: int, row: list[str], domains: dict[str, Any]) -> ImportLine:
    line = ImportLine(number=number)
    cells = [cell.strip() for cell in row] + [""] * len(COLUMNS)
    if len(row) > len(COLUMNS) + len(EXPORT_ONLY_COLUMNS):
        line.errors.append(_("Too many columns: expected %(columns)s.") % {"columns": ", ".join(COLUMNS)})
        return line
    address_text, display_name, quota_text, active_text, password = cells[: len(COLUMNS)]
    try:
        line.address = normalize_address(address_text)
    except AddressError:
        line.errors.append(_("“%(value)s” is not a valid mail address.") % {"value": address_text})
        return line
    if split_address(line.address)[1] not in domains:
        line.errors.append(_("You do not administer the domain of this address."))
        return line
    changes: dict[str, Any] = {}
    if display_name:
        changes["display_name"] = display_name[:200]
    if quota_text:
        try:
            changes["quota"] = parse_size(quota_text)
        except ValueError:
            line.errors.append(_("“%(value)s” is not a size such as 500M or 2G.") % {"value": quota_text})
    if active_text:
        if active_text.lower() in _TRUE:
            changes["is_active"] = True
        elif active_text.lower() in _FALSE:
            changes["is_active"] = False
        else:
            line.errors.append(_("Active must be yes or no, not “%(value)s”.") % {"value": active_text})
    if password and len(password) < MIN_PASSWORD_LENGTH:
        line.errors.append(_("The password is shorter than %(n)d characters.") % {"n": MIN_PASSWORD_LENGTH})
    line.password = password
    _plan_action(admin, line, changes)
    return line


def _plan_action(admin: object, line: ImportLine, changes: dict[str, Any]) -> None:
    existing = Account.objects.filter(address=line.address).first()
    if existing is None:
        if Alias.objects.filter(source=line.address).exists():
            line.errors.append(_("An alias already uses this address."))
        line.action = "create"
        line.changes = changes
        return
    if not accounts_for_admin(admin).filter(pk=existing.pk).exists():
        line.errors.append(_("This address belongs to an account you cannot change."))
        return
    if existing.source != "db":
        line.errors.append(_("This account comes from LDAP and is read-only here."))
        return
    line.changes = {key: value for key, value in changes.items() if getattr(existing, key) != value}
    line.action = "update" if line.changes or line.password else "unchanged"


def import_apply(admin: object, plan: ImportPlan) -> list[tuple[str, str]]:
    """Write a clean plan in one transaction; returns (address, password) of generated passwords."""
    if not plan.ok:
        raise ValueError("the plan has errors")
    generated: list[tuple[str, str]] = []
    with transaction.atomic():
        for line in plan.lines:
            if line.action == "create":
                password = line.password or secrets.token_urlsafe(12)
                account = account_create(
                    address=line.address,
                    password=password,
                    quota=line.changes.get("quota"),
                    display_name=line.changes.get("display_name", ""),
                )
                if line.changes.get("is_active") is False:
                    account_update(account=account, is_active=False)
                if not line.password:
                    generated.append((line.address, password))
            elif line.action == "update":
                account = accounts_for_admin(admin).get(address=line.address)
                if line.changes:
                    account_update(account=account, **line.changes)
                if line.password:
                    account_set_password(address=line.address, password=line.password)
    return generated


def export_rows(accounts: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, *EXPORT_ONLY_COLUMNS])
    for account in accounts.iterator(chunk_size=2000):
        writer.writerow(
            [
                account.address,
                account.display_name,
                account.quota,
                "yes" if account.is_active else "no",
                "",
                account.role,
                account.used_bytes,
                account.source,
            ]
        )
    return out.getvalue()
