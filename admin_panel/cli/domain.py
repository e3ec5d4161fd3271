"""`yubin domain add|list|remove NAME`."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from admin_panel.cli.base import format_size, table
from store.config_parse import size_argument
from store.models import Domain
from store.services import domain_create, domain_remove


def register(groups: Any) -> None:
    parser = groups.add_parser("domain", help="manage mail domains")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a domain")
    add.add_argument("name")
    add.add_argument("--quota", type=size_argument, default=0, help="default quota of new accounts, e.g. 2G")
    add.add_argument("--max-accounts", type=int, default=0)
    add.set_defaults(handler=domain_add)
    listing = actions.add_parser("list", help="list domains")
    listing.set_defaults(handler=domain_list)
    remove = actions.add_parser("remove", help="remove a domain with its accounts and their mail")
    remove.add_argument("name")
    remove.set_defaults(handler=domain_remove_cmd)


def domain_add(options: dict[str, Any], out: Any) -> None:
    domain = domain_create(name=options["name"], quota=options["quota"], max_accounts=options["max_accounts"])
    out.write(f"domain added: {domain.name}")


def domain_list(options: dict[str, Any], out: Any) -> None:
    rows = [("DOMAIN", "ACTIVE", "ACCOUNTS", "DEFAULT QUOTA")]
    for domain in Domain.objects.annotate(n=Count("accounts")).order_by("name"):
        rows.append((domain.name, "yes" if domain.active else "no", str(domain.n), format_size(domain.default_quota)))
    out.write(table(rows))


def domain_remove_cmd(options: dict[str, Any], out: Any) -> None:
    domain_remove(name=options["name"])
    out.write(f"domain removed: {options['name']}")
