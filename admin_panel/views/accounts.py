"""Accounts: list (search, sort, SQL paging), create, edit, password, role, delete, CSV."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from admin_panel.access import (
    accounts_for_admin,
    aliases_for_admin,
    domains_for_admin,
    is_superadmin,
    scripts_for_admin,
)
from admin_panel.audit import audit_record
from admin_panel.forms import AccountCreateForm, AccountEditForm, AccountRoleForm, ConfirmForm, PasswordForm
from admin_panel.views.base import admin_view, get_visible, page_of, query_without_page, render_page, superadmin_view
from store.errors import StoreError
from store.models import Account, Role
from store.services import (
    account_admin_domains_set,
    account_create,
    account_remove,
    account_set_password,
    account_update,
)

SORT_FIELDS = {
    "address": "address",
    "-address": "-address",
    "used": "used_bytes",
    "-used": "-used_bytes",
    "quota": "quota",
    "-quota": "-quota",
    "created": "created",
    "-created": "-created",
}


@admin_view
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = accounts_for_admin(request.user).only(
        "id", "address", "display_name", "role", "is_active", "quota", "used_bytes", "source", "domain__name"
    )
    query = request.GET.get("q", "").strip()
    if query:
        accounts = accounts.filter(Q(address__icontains=query) | Q(display_name__icontains=query))
    domain_id = request.GET.get("domain", "")
    if domain_id.isascii() and domain_id.isdigit():
        accounts = accounts.filter(domain_id=int(domain_id))
    sort = request.GET.get("sort", "address")
    accounts = accounts.order_by(SORT_FIELDS.get(sort, "address"), "id")
    context = {
        "page": page_of(request, accounts),
        "q": query,
        "sort": sort,
        "domain_id": domain_id,
        "domains": domains_for_admin(request.user).only("id", "name"),
        "query_string": query_without_page(request),
    }
    return render_page(request, "account_list.html", context)


@never_cache
@admin_view
def account_create_view(request: HttpRequest) -> HttpResponse:
    domains = domains_for_admin(request.user)
    initial = {}
    if request.GET.get("domain", "").isdigit():
        initial["domain"] = domains.filter(pk=int(request.GET["domain"])).first()
    form = AccountCreateForm(request.POST or None, domains=domains, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        password = data["password"] or secrets.token_urlsafe(12)
        try:
            account = account_create(
                address=data["address"], password=password, quota=data["quota"], display_name=data["display_name"]
            )
        except StoreError as exc:
            form.add_error("local_part", str(exc))
        else:
            audit_record(request, action="account.create", target=account.address, domain=account.domain.name)
            context = {"account": account, "password": None if data["password"] else password}
            return render_page(request, "account_created.html", context)
    return render_page(request, "account_form.html", {"form": form, "creating": True})


def _aliases_to(request: HttpRequest, account: Account) -> list:
    candidates = (
        aliases_for_admin(request.user)
        .annotate(destinations_text=Cast("destinations", TextField()))
        .filter(destinations_text__contains=f'"{account.address}"')
    )
    return [alias for alias in candidates if account.address in alias.destinations]


@admin_view
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_visible(accounts_for_admin(request.user), pk=account_id)
    read_only = account.source != "db"
    form = AccountEditForm(
        request.POST or None,
        initial={"display_name": account.display_name, "quota": account.quota, "is_active": account.is_active},
    )
    if read_only:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and not read_only and form.is_valid():
        changes = {key: value for key, value in form.cleaned_data.items() if getattr(account, key) != value}
        if changes:
            account_update(account=account, **changes)
            audit_record(
                request, action="account.update", target=account.address, domain=account.domain.name, changes=changes
            )
        messages.success(request, _("Account %(address)s saved.") % {"address": account.address})
        return redirect("admin_panel:account_detail", account_id=account.pk)
    context = {
        "account": account,
        "form": form,
        "read_only": read_only,
        "aliases": _aliases_to(request, account),
        "scripts": scripts_for_admin(request.user).filter(account=account),
        "usage_percent": min(100, round(100 * account.used_bytes / account.quota)) if account.quota else None,
        "can_set_role": is_superadmin(request.user),
        "admin_domains": list(account.admin_domains.values_list("name", flat=True)),
    }
    return render_page(request, "account_detail.html", context)


@never_cache
@admin_view
def account_password(request: HttpRequest, account_id: int) -> HttpResponse:
    """Set or generate a password; a generated one is shown once, in this response only."""
    account = get_visible(accounts_for_admin(request.user), pk=account_id)
    if account.source != "db":
        messages.error(request, _("This account comes from LDAP; change its password there."))
        return redirect("admin_panel:account_detail", account_id=account.pk)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password"] or secrets.token_urlsafe(12)
        account_set_password(address=account.address, password=password)
        audit_record(request, action="account.password", target=account.address, domain=account.domain.name)
        shown = None if form.cleaned_data["password"] else password
        return render_page(request, "account_password_done.html", {"account": account, "password": shown})
    return render_page(request, "account_password.html", {"account": account, "form": form})


@superadmin_view
def account_role(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_visible(accounts_for_admin(request.user), pk=account_id)
    form = AccountRoleForm(
        request.POST or None, initial={"role": account.role, "admin_domains": list(account.admin_domains.all())}
    )
    if request.method == "POST" and form.is_valid():
        role = form.cleaned_data["role"]
        domains = list(form.cleaned_data["admin_domains"]) if role == Role.DOMAIN_ADMIN else []
        if account.pk == request.user.pk and role != Role.SUPERADMIN:
            form.add_error("role", _("You cannot take your own superadmin role away."))
        else:
            account_update(account=account, role=role)
            account_admin_domains_set(account=account, domains=domains)
            audit_record(
                request,
                action="account.role",
                target=account.address,
                domain=account.domain.name,
                role=role,
                admin_domains=[d.name for d in domains],
            )
            messages.success(request, _("Role of %(address)s saved.") % {"address": account.address})
            return redirect("admin_panel:account_detail", account_id=account.pk)
    return render_page(request, "account_role.html", {"account": account, "form": form})


@admin_view
def account_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_visible(accounts_for_admin(request.user), pk=account_id)
    form = ConfirmForm(request.POST or None)
    if account.pk == request.user.pk:
        messages.error(request, _("You cannot delete the account you are signed in with."))
        return redirect("admin_panel:account_detail", account_id=account.pk)
    if request.method == "POST" and form.is_valid():
        account_remove(address=account.address)
        audit_record(request, action="account.delete", target=account.address, domain=account.domain.name)
        messages.success(request, _("Account %(address)s deleted.") % {"address": account.address})
        return redirect("admin_panel:account_list")
    folders = account.folders.all()
    context = {
        "account": account,
        "form": form,
        "folder_count": len(folders),
        "message_count": sum(f.message_count for f in folders),
    }
    return render_page(request, "account_delete.html", context)
