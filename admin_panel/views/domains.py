"""Domains: list, create, edit (defaults, catch-all), disable, delete with confirmation."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from admin_panel.access import domains_for_admin, is_superadmin
from admin_panel.audit import audit_record
from admin_panel.forms import DomainCreateForm, DomainDeleteForm, DomainEditForm
from admin_panel.views.base import admin_view, get_visible, page_of, render_page, superadmin_view
from store.errors import StoreError
from store.models import Alias, Domain
from store.services import alias_create, alias_remove, alias_update, domain_create, domain_remove, domain_update


@admin_view
def domain_list(request: HttpRequest) -> HttpResponse:
    domains = domains_for_admin(request.user).annotate(
        account_count=Count("accounts", distinct=True), used=Sum("accounts__used_bytes")
    )
    query = request.GET.get("q", "").strip().lower()
    if query:
        domains = domains.filter(name__contains=query)
    return render_page(request, "domain_list.html", {"page": page_of(request, domains.order_by("name")), "q": query})


@superadmin_view
def domain_create_view(request: HttpRequest) -> HttpResponse:
    form = DomainCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            domain = domain_create(
                name=data["name"],
                quota=data["default_quota"],
                max_accounts=data["max_accounts"],
                max_message_size=data["max_message_size"],
            )
        except StoreError as exc:
            form.add_error("name", str(exc))
        else:
            audit_record(request, action="domain.create", target=domain.name, domain=domain.name)
            messages.success(request, _("Domain %(name)s created.") % {"name": domain.name})
            return redirect("admin_panel:domain_detail", domain_id=domain.pk)
    return render_page(request, "domain_form.html", {"form": form, "creating": True})


def _catch_all(domain: Domain) -> Alias | None:
    return Alias.objects.filter(source=f"@{domain.name}").first()


@admin_view
def domain_detail(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_visible(domains_for_admin(request.user), pk=domain_id)
    catch_all = _catch_all(domain)
    stats = domain.accounts.aggregate(count=Count("id"), used=Sum("used_bytes"))
    context = {
        "domain": domain,
        "catch_all": catch_all,
        "account_count": stats["count"],
        "used": stats["used"] or 0,
        "alias_count": domain.aliases.count(),
        "can_manage": is_superadmin(request.user),
    }
    return render_page(request, "domain_detail.html", context)


@admin_view
def domain_edit(request: HttpRequest, domain_id: int) -> HttpResponse:
    """Superadmins change limits and state; a domain's administrators change its catch-all."""
    domain = get_visible(domains_for_admin(request.user), pk=domain_id)
    catch_all = _catch_all(domain)
    superadmin = is_superadmin(request.user)
    initial = {
        "active": domain.active,
        "default_quota": domain.default_quota,
        "max_accounts": domain.max_accounts,
        "max_message_size": domain.max_message_size,
        "catch_all": ", ".join(catch_all.destinations) if catch_all else "",
    }
    form = DomainEditForm(request.POST or None, initial=initial)
    if not superadmin:
        for name in ("active", "default_quota", "max_accounts", "max_message_size"):
            form.fields[name].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if superadmin:
                changes = {
                    key: data[key]
                    for key in ("active", "default_quota", "max_accounts", "max_message_size")
                    if data[key] != getattr(domain, key)
                }
                if changes:
                    domain_update(domain=domain, **changes)
                    audit_record(
                        request, action="domain.update", target=domain.name, domain=domain.name, changes=changes
                    )
            _catch_all_save(request, domain, catch_all, data["catch_all"])
        except (StoreError, ValueError) as exc:
            form.add_error("catch_all", str(exc))
        else:
            messages.success(request, _("Domain %(name)s saved.") % {"name": domain.name})
            return redirect("admin_panel:domain_detail", domain_id=domain.pk)
    return render_page(request, "domain_form.html", {"form": form, "domain": domain, "creating": False})


def _catch_all_save(request: HttpRequest, domain: Domain, current: Alias | None, destinations: list[str]) -> None:
    source = f"@{domain.name}"
    if current is not None and not destinations:
        alias_remove(source=source)
    elif current is None and destinations:
        alias_create(source=source, destinations=destinations)
    elif current is not None and destinations != current.destinations:
        alias_update(source=source, destinations=destinations, active=True)
    else:
        return
    audit_record(request, action="domain.catchall", target=source, domain=domain.name, destinations=destinations)


@superadmin_view
def domain_delete(request: HttpRequest, domain_id: int) -> HttpResponse:
    """Delete after typing the name; a domain that still has accounts is kept unless asked."""
    domain = get_visible(domains_for_admin(request.user), pk=domain_id)
    account_count = domain.accounts.count()
    form = DomainDeleteForm(request.POST or None, domain=domain)
    if request.method == "POST" and form.is_valid():
        if account_count and not form.cleaned_data["remove_mail"]:
            form.add_error(
                "remove_mail",
                _(
                    "This domain still has %(n)d accounts. Tick the box to remove them and their mail, "
                    "or disable the domain instead."
                )
                % {"n": account_count},
            )
        else:
            domain_remove(name=domain.name)
            audit_record(
                request, action="domain.delete", target=domain.name, domain=domain.name, accounts=account_count
            )
            messages.success(request, _("Domain %(name)s deleted.") % {"name": domain.name})
            return redirect("admin_panel:domain_list")
    context = {
        "domain": domain,
        "form": form,
        "account_count": account_count,
        "alias_count": domain.aliases.count(),
        "used": domain.accounts.aggregate(used=Sum("used_bytes"))["used"] or 0,
    }
    return render_page(request, "domain_delete.html", context)
