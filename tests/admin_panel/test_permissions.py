"""The permission matrix: every admin view × superadmin / admin of alpha / admin of beta / user / anonymous.

Objects in URLs belong to alpha.test. The admin of beta must get 404 for them (they do not exist
for that admin), a user 403, an anonymous visitor the login page; lists must not show alpha's data
to beta's admin. A final test checks that every URL of the panel is in this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, get_resolver, reverse

from admin_panel.models import AuditEntry
from store.models import Account, Alias, DkimKey, OutboundMessage, SieveScript

ROLES = ("superadmin", "admin_alpha", "admin_beta", "user", "anonymous")
ALPHA_MARKERS = ("alice@alpha.test", "sales@alpha.test", "alpha.test")


@dataclass(frozen=True)
class Case:
    name: str
    kwargs: Callable[[Any], dict[str, Any]]
    kind: str  # list | object | superadmin | post
    data: Callable[[Any], dict[str, Any]] | None = None


def no_args(w: Any) -> dict[str, Any]:
    return {}


def domain_id(w: Any) -> dict[str, Any]:
    return {"domain_id": w.alpha.pk}


def account_id(w: Any) -> dict[str, Any]:
    return {"account_id": w.alpha_user.pk}


def alias_id(w: Any) -> dict[str, Any]:
    return {"alias_id": w.alpha_alias.pk}


def domain_owner(w: Any) -> dict[str, Any]:
    return {"kind": "domain", "owner_id": w.alpha.pk}


def account_owner(w: Any) -> dict[str, Any]:
    return {"kind": "account", "owner_id": w.alpha_user.pk}


def domain_script(w: Any) -> dict[str, Any]:
    return {**domain_owner(w), "script_id": w.alpha_domain_script.pk}


def account_script(w: Any) -> dict[str, Any]:
    return {**account_owner(w), "script_id": w.alpha_account_script.pk}


def queued(w: Any) -> dict[str, Any]:
    return {"outbound_id": w.alpha_queued.pk}


CASES = [
    Case("dashboard", no_args, "list"),
    Case("domain_list", no_args, "list"),
    Case("domain_create", no_args, "superadmin"),
    Case("domain_detail", domain_id, "object"),
    Case("domain_edit", domain_id, "object"),
    Case("domain_delete", domain_id, "superadmin"),
    Case("domain_dns", domain_id, "object"),
    Case("dkim_generate", domain_id, "post", lambda w: {"algorithm": "ed25519"}),
    Case("dkim_activate", lambda w: {"key_id": w.alpha_key.pk}, "post"),
    Case("dkim_remove", lambda w: {"key_id": w.alpha_key.pk}, "post", lambda w: {"confirm": "1"}),
    Case("account_list", no_args, "list"),
    Case("account_create", no_args, "list"),
    Case("account_import", no_args, "list"),
    Case("account_export", no_args, "list"),
    Case("account_detail", account_id, "object"),
    Case("account_password", account_id, "object"),
    Case("account_role", account_id, "superadmin"),
    Case("account_delete", account_id, "object"),
    Case("alias_list", no_args, "list"),
    Case("alias_create", no_args, "list"),
    Case("alias_edit", alias_id, "object"),
    Case("alias_delete", alias_id, "object"),
    Case("rule_index", no_args, "list"),
    Case("owner_rules", domain_owner, "object"),
    Case("owner_rules", account_owner, "object"),
    Case("rule_builder", domain_owner, "object"),
    Case("rule_builder", account_owner, "object"),
    Case("rule_remove", lambda w: {**domain_owner(w), "index": 0}, "post"),
    Case("script_create", domain_owner, "object"),
    Case("script_create", account_owner, "object"),
    Case("script_edit", domain_script, "object"),
    Case("script_edit", account_script, "object"),
    Case("script_activate", domain_script, "post"),
    Case("script_activate", account_script, "post"),
    Case("script_delete", domain_script, "object"),
    Case("script_delete", account_script, "object"),
    Case("queue_list", no_args, "list"),
    Case("queue_detail", queued, "object"),
    Case("queue_action", lambda w: {**queued(w), "action": "bounce"}, "object"),
    Case("queue_action", lambda w: {**queued(w), "action": "hold"}, "post"),
    Case("queue_action", lambda w: {**queued(w), "action": "retry"}, "post"),
    Case("tracking_search", no_args, "list"),
    Case("tracking_path", lambda w: {"log_id": w.alpha_log_id}, "object"),
    Case("audit_list", no_args, "list"),
]

EXPECTED = {
    #             superadmin admin_alpha admin_beta user anonymous
    "list": (200, 200, 200, 403, 302),
    "object": (200, 200, 404, 403, 302),
    "superadmin": (200, 403, 403, 403, 302),
    "post": (302, 302, 404, 403, 302),
}


def case_id(case: Case) -> str:
    return f"{case.name}-{case.kind}-{'-'.join(str(v) for v in case.kwargs.__code__.co_names[:2])}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}:{i}" for i, c in enumerate(CASES)])
def test_matrix(world, case: Case, role: str):
    """Each role gets exactly the status of the table; beta's admin never sees alpha's data."""
    client = world.client_for(role)
    url = reverse(f"admin_panel:{case.name}", kwargs=case.kwargs(world))
    expected = EXPECTED[case.kind][ROLES.index(role)]
    if case.kind == "post":
        response = client.post(url, case.data(world) if case.data else {})
    else:
        response = client.get(url)
    assert response.status_code == expected, (url, role, response.status_code)
    if role == "anonymous":
        assert response["Location"].startswith(reverse("admin_panel:login"))
    if role == "admin_beta" and response.status_code == 200:
        body = response.content.decode()
        for marker in ALPHA_MARKERS:
            assert marker not in body, (url, marker)


def _state(world) -> tuple:
    """Everything a forbidden request could have changed."""
    return (
        sorted(Account.objects.values_list("address", "display_name", "quota", "is_active", "role", "password")),
        sorted(Alias.objects.values_list("source", "active")),
        sorted(SieveScript.objects.values_list("name", "active", "content")),
        sorted(DkimKey.objects.values_list("selector", "active")),
        sorted(OutboundMessage.objects.values_list("pk", "held")),
        sorted(world.alpha_queued.recipients.values_list("state", flat=True)),
    )


@pytest.mark.parametrize("role", ["admin_beta", "user", "anonymous"])
@pytest.mark.parametrize("case", [c for c in CASES if c.kind in ("object", "post", "superadmin")], ids=lambda c: c.name)
def test_forbidden_posts_change_nothing(world, case: Case, role: str):
    """A POST with alpha's ids from anyone who may not act on alpha changes nothing at all."""
    before = _state(world)
    client = world.client_for(role)
    url = reverse(f"admin_panel:{case.name}", kwargs=case.kwargs(world))
    payload = {"confirm": "on", "confirm_name": "alpha.test", "remove_mail": "on", "password": "new-password-123",
               "role": "superadmin", "destinations": "x@remote.example", "content": "discard;", "name": "x",
               "is_active": "", "quota": "1M", "display_name": "hacked", "act0_type": "discard"}  # fmt: skip
    response = client.post(url, payload)
    assert response.status_code in (302, 403, 404)
    assert _state(world) == before


def test_beta_admin_cannot_create_in_alpha_by_form(world):
    """Form posts naming alpha's domain id or addresses are refused with an error by the field."""
    client = world.client_for("admin_beta")
    response = client.post(
        reverse("admin_panel:account_create"), {"local_part": "intruder", "domain": world.alpha.pk, "password": ""}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    response = client.post(
        reverse("admin_panel:alias_create"),
        {"source": "x@alpha.test", "destinations": "bert@beta.test", "active": "on"},
    )
    assert "You do not administer the domain of this address." in response.content.decode()
    response = client.post(
        reverse("admin_panel:account_import"), {"text": "intruder@alpha.test,,,,longpassword\n", "apply": "1"}
    )
    assert "You do not administer the domain of this address." in response.content.decode()
    assert not Account.objects.filter(address="intruder@alpha.test").exists()
    assert not Alias.objects.filter(source="x@alpha.test").exists()


def test_domain_admin_cannot_touch_admin_accounts(world):
    """Accounts with an administrator role, even in the admin's own domain, are superadmin-only."""
    from store.services import account_create

    other_admin = account_create(address="deputy@alpha.test", password="long-password-1", role="domainadmin")
    client = world.client_for("admin_alpha")
    assert client.get(reverse("admin_panel:account_detail", kwargs={"account_id": other_admin.pk})).status_code == 404
    url = reverse("admin_panel:account_password", kwargs={"account_id": world.superadmin.pk})
    assert client.post(url, {"password": "taken-over-123"}).status_code == 404
    world.superadmin.refresh_from_db()
    assert world.superadmin.check_password("correct horse battery staple")
    assert "deputy@alpha.test" not in client.get(reverse("admin_panel:account_list")).content.decode()


def test_domain_admin_sees_only_own_audit(world):
    """The audit log of beta's admin holds beta's entries only."""
    AuditEntry.objects.create(
        actor_address="boss@ops.test", action="alias.create", target="a@alpha.test", domain="alpha.test"
    )
    AuditEntry.objects.create(
        actor_address="chief@ops.test", action="alias.create", target="b@beta.test", domain="beta.test"
    )
    body = world.client_for("admin_beta").get(reverse("admin_panel:audit_list")).content.decode()
    assert "b@beta.test" in body and "a@alpha.test" not in body


def _panel_url_names() -> set[str]:
    resolver = get_resolver()
    names = set()
    for pattern in resolver.url_patterns:
        if getattr(pattern, "namespace", None) == "admin_panel":
            for inner in pattern.url_patterns:
                if isinstance(inner, URLPattern) and inner.name:
                    names.add(inner.name)
    return names


def test_every_view_is_in_the_matrix():
    """Adding a view without adding it to the matrix fails here."""
    public = {"login", "logout", "set_language"}
    assert _panel_url_names() - public == {case.name for case in CASES}
