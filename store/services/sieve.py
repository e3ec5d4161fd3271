"""Sieve script storage (RFC 5228 scripts, RFC 5804 semantics): one active script per owner.

Owners are an account or a whole domain (domain rules run before the account's). Callers
validate a script (agents.mda.sieve) before putting it; the store only keeps it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from store.errors import AlreadyExists, InvalidName, NotFound
from store.models import Account, Domain, SieveScript

MAX_SCRIPT_NAME_LENGTH = 200
MAX_SCRIPT_SIZE = 256 * 1024  # Dovecot's sieve_max_script_size default is 1M; ours is plenty
MAX_SCRIPTS_PER_OWNER = 100


def _owner_filter(account: Account | None, domain: Domain | None) -> dict[str, object]:
    if (account is None) == (domain is None):
        raise ValueError("a script belongs to exactly one account or one domain")
    return {"account": account} if account is not None else {"domain": domain}


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_SCRIPT_NAME_LENGTH or any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise InvalidName("invalid script name")


def sieve_script_put(
    *, name: str, content: str, account: Account | None = None, domain: Domain | None = None, activate: bool = False
) -> SieveScript:
    """Create or replace a script (PUTSCRIPT); optionally make it the active one."""
    _check_name(name)
    if len(content.encode()) > MAX_SCRIPT_SIZE:
        raise ValueError(f"script larger than {MAX_SCRIPT_SIZE} bytes")
    owner = _owner_filter(account, domain)
    with transaction.atomic():
        script = SieveScript.objects.filter(name=name, **owner).first()
        if script is None:
            if SieveScript.objects.filter(**owner).count() >= MAX_SCRIPTS_PER_OWNER:
                raise ValueError(f"at most {MAX_SCRIPTS_PER_OWNER} scripts")
            script = SieveScript(name=name, content=content, **owner)
        script.content = content
        script.last_error = ""
        script.save()
        if activate:
            sieve_script_activate(name=name, account=account, domain=domain)
            script.refresh_from_db()
    return script


def sieve_script_activate(*, name: str | None, account: Account | None = None, domain: Domain | None = None) -> None:
    """Make one script active (SETACTIVE); name None or "" deactivates all."""
    owner = _owner_filter(account, domain)
    with transaction.atomic():
        if name:
            if not SieveScript.objects.filter(name=name, **owner).exists():
                raise NotFound(f"no such script: {name}")
        SieveScript.objects.filter(**owner).exclude(name=name or "").update(active=False)
        if name:
            SieveScript.objects.filter(name=name, **owner).update(active=True)


def sieve_script_delete(*, name: str, account: Account | None = None, domain: Domain | None = None) -> None:
    """DELETESCRIPT; the active script cannot be deleted (RFC 5804 §2.10)."""
    owner = _owner_filter(account, domain)
    script = SieveScript.objects.filter(name=name, **owner).first()
    if script is None:
        raise NotFound(f"no such script: {name}")
    if script.active:
        raise ValueError("the active script cannot be deleted")
    script.delete()


def sieve_script_rename(
    *, old_name: str, new_name: str, account: Account | None = None, domain: Domain | None = None
) -> None:
    _check_name(new_name)
    owner = _owner_filter(account, domain)
    try:
        with transaction.atomic():
            if SieveScript.objects.filter(name=new_name, **owner).exists():
                raise AlreadyExists(f"script already exists: {new_name}")
            if not SieveScript.objects.filter(name=old_name, **owner).update(name=new_name):
                raise NotFound(f"no such script: {old_name}")
    except IntegrityError:
        raise AlreadyExists(f"script already exists: {new_name}") from None


def sieve_script_record_error(*, script_id: int, error: str) -> None:
    SieveScript.objects.filter(pk=script_id).update(last_error=error[:2000])
