"""alias_update and account_admin_domains_set: the services the admin panel edits with."""

from __future__ import annotations

import pytest

from store.errors import AliasLoop, NotFound
from store.services import account_admin_domains_set, alias_create, alias_update, domain_create


def test_alias_update_replaces_destinations(make_account):
    """Updating an alias replaces its destinations and keeps the source."""
    make_account("a@one.test")
    make_account("b@one.test")
    alias_create(source="team@one.test", destinations=["a@one.test"])
    alias = alias_update(source="team@one.test", destinations=["b@one.test", "x@remote.example"], active=False)
    assert alias.destinations == ["b@one.test", "x@remote.example"]
    assert alias.active is False


def test_alias_update_refuses_loop_and_keeps_old(make_account):
    """A loop made by an update is refused and the alias keeps its former destinations."""
    make_account("a@one.test")
    alias_create(source="x@one.test", destinations=["a@one.test"])
    alias_create(source="y@one.test", destinations=["x@one.test"])
    with pytest.raises(AliasLoop):
        alias_update(source="x@one.test", destinations=["y@one.test"])
    from store.models import Alias

    assert Alias.objects.get(source="x@one.test").destinations == ["a@one.test"]


def test_alias_update_unknown_local_target(make_account):
    """A local destination that does not exist is refused."""
    make_account("a@one.test")
    alias_create(source="x@one.test", destinations=["a@one.test"])
    with pytest.raises(NotFound):
        alias_update(source="x@one.test", destinations=["ghost@one.test"])


def test_admin_domains_set(make_account):
    """The set of administered domains is replaced."""
    admin = make_account("boss@one.test", role="domainadmin")
    two = domain_create(name="two.test")
    account_admin_domains_set(account=admin, domains=[admin.domain, two])
    assert sorted(admin.admin_domains.values_list("name", flat=True)) == ["one.test", "two.test"]
    account_admin_domains_set(account=admin, domains=[two])
    assert list(admin.admin_domains.values_list("name", flat=True)) == ["two.test"]
