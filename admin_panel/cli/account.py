"""`yubin account add|list|passwd|remove`."""

from __future__ import annotations

from typing import Any

from admin_panel.cli.base import format_size, read_password, table
from store.config_parse import size_argument
from store.models import Account, Role
from store.services import account_create, account_remove, account_set_password


def register(groups: Any) -> None:
    parser = groups.add_parser("account", help="manage accounts")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add an account (its domain must exist)")
    add.add_argument("address")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--role", choices=Role.values, default=Role.USER)
    add.add_argument("--quota", type=size_argument, default=None, help="e.g. 2G; 0 = unlimited")
    add.add_argument("--name", default="", help="display name")
    add.set_defaults(handler=account_add)
    listing = actions.add_parser("list", help="list accounts")
    listing.add_argument("domain", nargs="?", help="only this domain")
    listing.set_defaults(handler=account_list)
    passwd = actions.add_parser("passwd", help="set an account's password")
    passwd.add_argument("address")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=account_passwd)
    remove = actions.add_parser("remove", help="remove an account and its mail")
    remove.add_argument("address")
    remove.set_defaults(handler=account_remove_cmd)


def account_add(options: dict[str, Any], out: Any) -> None:
    password = read_password(options)
    account = account_create(
        address=options["address"],
        password=password,
        role=options["role"],
        quota=options["quota"],
        display_name=options["name"],
    )
    out.write(f"account added: {account.address}")


def account_list(options: dict[str, Any], out: Any) -> None:
    accounts = Account.objects.select_related("domain").order_by("address")
    if options.get("domain"):
        accounts = accounts.filter(domain__name=options["domain"].lower())
    rows = [("ADDRESS", "ROLE", "ACTIVE", "USED", "QUOTA")]
    for account in accounts:
        rows.append(
            (
                account.address,
                account.role,
                "yes" if account.is_active else "no",
                format_size(account.used_bytes) if account.used_bytes else "0",
                format_size(account.quota),
            )
        )
    out.write(table(rows))


def account_passwd(options: dict[str, Any], out: Any) -> None:
    password = read_password(options, "New password: ")
    account = account_set_password(address=options["address"], password=password)
    out.write(f"password changed: {account.address}")


def account_remove_cmd(options: dict[str, Any], out: Any) -> None:
    account_remove(address=options["address"])
    out.write(f"account removed: {options['address']}")
