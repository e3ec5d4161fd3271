"""Sieve script reads for ManageSieve (RFC 5804 §2.7 LISTSCRIPTS, §2.9 GETSCRIPT, §2.5 HAVESPACE)."""

from __future__ import annotations

from store.models import SieveScript


def sieve_scripts_of_account(*, account_id: int) -> list[tuple[str, bool]]:
    """(name, active) of every script of the account, by name."""
    return list(SieveScript.objects.filter(account_id=account_id).order_by("name").values_list("name", "active"))


def sieve_script_content(*, account_id: int, name: str) -> str | None:
    return SieveScript.objects.filter(account_id=account_id, name=name).values_list("content", flat=True).first()
