"""`yubin alias add SOURCE DEST... | list | remove SOURCE`."""

from __future__ import annotations

from typing import Any

from admin_panel.cli.base import table
from store.models import Alias
from store.services import alias_create, alias_remove


def register(groups: Any) -> None:
    parser = groups.add_parser("alias", help="manage aliases and catch-alls (@domain)")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add an alias: SOURCE (or @domain) to one or more destinations")
    add.add_argument("source")
    add.add_argument("destinations", nargs="+")
    add.set_defaults(handler=alias_add)
    listing = actions.add_parser("list", help="list aliases")
    listing.set_defaults(handler=alias_list)
    remove = actions.add_parser("remove", help="remove an alias")
    remove.add_argument("source")
    remove.set_defaults(handler=alias_remove_cmd)


def alias_add(options: dict[str, Any], out: Any) -> None:
    alias = alias_create(source=options["source"], destinations=options["destinations"])
    out.write(f"alias added: {alias.source} -> {', '.join(alias.destinations)}")


def alias_list(options: dict[str, Any], out: Any) -> None:
    rows = [("SOURCE", "DESTINATIONS")]
    rows += [(alias.source, ", ".join(alias.destinations)) for alias in Alias.objects.order_by("source")]
    out.write(table(rows))


def alias_remove_cmd(options: dict[str, Any], out: Any) -> None:
    alias_remove(source=options["source"])
    out.write(f"alias removed: {options['source']}")
