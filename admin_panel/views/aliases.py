"""Aliases and forwarding: one source (or @domain catch-all) to local or external destinations."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from admin_panel.access import aliases_for_admin, domains_for_admin
from admin_panel.audit import audit_record
from admin_panel.forms import AliasForm, ConfirmForm
from admin_panel.views.base import admin_view, get_visible, page_of, query_without_page, render_page
from store.addresses import split_address
from store.errors import AliasLoop, StoreError
from store.services import alias_create, alias_remove, alias_update


@admin_view
def alias_list(request: HttpRequest) -> HttpResponse:
    aliases = aliases_for_admin(request.user)
    query = request.GET.get("q", "").strip().lower()
    if query:
        aliases = aliases.filter(Q(source__contains=query) | Q(domain__name__contains=query))
    if request.GET.get("domain", "").isdigit():
        aliases = aliases.filter(domain_id=int(request.GET["domain"]))
    context = {
        "page": page_of(request, aliases.order_by("source")),
        "q": query,
        "query_string": query_without_page(request),
    }
    return render_page(request, "alias_list.html", context)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, AliasLoop):
        return _("This alias would make a loop: %(path)s") % {"path": str(exc).split(": ", 1)[-1]}
    return str(exc)


@admin_view
def alias_create_view(request: HttpRequest) -> HttpResponse:
    form = AliasForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source, destinations = form.cleaned_data["source"], form.cleaned_data["destinations"]
        domain_name = source[1:] if source.startswith("@") else split_address(source)[1]
        if not domains_for_admin(request.user).filter(name=domain_name).exists():
            form.add_error("source", _("You do not administer the domain of this address."))
        else:
            try:
                alias = alias_create(source=source, destinations=destinations)
                if not form.cleaned_data["active"]:
                    alias = alias_update(source=source, destinations=destinations, active=False)
            except StoreError as exc:
                form.add_error("destinations" if isinstance(exc, AliasLoop) else "source", _error_text(exc))
            else:
                audit_record(
                    request, action="alias.create", target=alias.source, domain=domain_name, destinations=destinations
                )
                messages.success(request, _("Alias %(source)s created.") % {"source": alias.source})
                return redirect("admin_panel:alias_list")
    return render_page(request, "alias_form.html", {"form": form, "creating": True})


@admin_view
def alias_edit(request: HttpRequest, alias_id: int) -> HttpResponse:
    alias = get_visible(aliases_for_admin(request.user), pk=alias_id)
    initial = {"source": alias.source, "destinations": ", ".join(alias.destinations), "active": alias.active}
    form = AliasForm(request.POST or None, initial=initial)
    form.fields["source"].disabled = True
    if request.method == "POST" and form.is_valid():
        destinations = form.cleaned_data["destinations"]
        try:
            alias_update(source=alias.source, destinations=destinations, active=form.cleaned_data["active"])
        except StoreError as exc:
            form.add_error("destinations", _error_text(exc))
        else:
            audit_record(
                request, action="alias.update", target=alias.source, domain=alias.domain.name, destinations=destinations
            )
            messages.success(request, _("Alias %(source)s saved.") % {"source": alias.source})
            return redirect("admin_panel:alias_list")
    return render_page(request, "alias_form.html", {"form": form, "alias": alias, "creating": False})


@admin_view
def alias_delete(request: HttpRequest, alias_id: int) -> HttpResponse:
    alias = get_visible(aliases_for_admin(request.user), pk=alias_id)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        alias_remove(source=alias.source)
        audit_record(request, action="alias.delete", target=alias.source, domain=alias.domain.name)
        messages.success(request, _("Alias %(source)s deleted.") % {"source": alias.source})
        return redirect("admin_panel:alias_list")
    return render_page(request, "alias_delete.html", {"alias": alias, "form": form})
