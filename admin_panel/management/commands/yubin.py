"""`manage.py yubin ...`: the admin CLI. Each subcommand group lives in admin_panel/cli/<group>.py."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

import admin_panel.cli
from admin_panel.cli.base import CliError
from store.addresses import AddressError
from store.errors import StoreError


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 1, like every other CLI error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"yubin: {self.prog.split()[-1]}: {message}\n")
        sys.exit(1)


class Command(BaseCommand):
    help = "Administer Yubin: domains, accounts, aliases, queue, DKIM."

    def add_arguments(self, parser: CommandParser) -> None:
        groups = parser.add_subparsers(dest="group", required=True, parser_class=OneLineErrorParser)
        for module_info in sorted(pkgutil.iter_modules(admin_panel.cli.__path__), key=lambda m: m.name):
            if module_info.name == "base":
                continue
            module = importlib.import_module(f"admin_panel.cli.{module_info.name}")
            module.register(groups)

    def handle(self, *args: object, **options: object) -> None:
        handler = options.get("handler")
        if handler is None:
            raise CommandError("no subcommand given")
        try:
            handler(options, self.stdout)  # type: ignore[operator]
        except (CliError, StoreError, AddressError, ValueError) as exc:
            self.stderr.write(f"yubin: {exc}")
            sys.exit(1)
