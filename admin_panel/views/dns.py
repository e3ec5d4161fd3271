"""DNS and DKIM of a domain: the records to publish, checked against the live DNS; key rotation."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from admin_panel.access import dkim_keys_for_admin, domains_for_admin
from admin_panel.audit import audit_record
from admin_panel.dns_records import records_check, records_for, zone_text
from admin_panel.views.base import admin_view, get_visible, render_page
from store.errors import StoreError
from store.services.dkim import ALGORITHMS, dkim_key_activate, dkim_key_generate, dkim_key_remove


@admin_view
def domain_dns(request: HttpRequest, domain_id: int) -> HttpResponse:
    """The records; with ?check=1 each is looked up and marked right or wrong with what was found."""
    domain = get_visible(domains_for_admin(request.user), pk=domain_id)
    records = records_for(domain)
    checked = request.GET.get("check") == "1"
    if checked:
        records_check(records)
    context = {
        "domain": domain,
        "records": records,
        "checked": checked,
        "zone": zone_text(records),
        "keys": dkim_keys_for_admin(request.user).filter(domain=domain).order_by("-active", "-created"),
        "algorithms": ALGORITHMS,
    }
    return render_page(request, "domain_dns.html", context)


@require_POST
@admin_view
def dkim_generate(request: HttpRequest, domain_id: int) -> HttpResponse:
    """Generate a key (the first one, or a rotation) and make it the signing key."""
    domain = get_visible(domains_for_admin(request.user), pk=domain_id)
    algorithm = request.POST.get("algorithm", "rsa")
    if algorithm not in ALGORITHMS:
        messages.error(request, _("Unknown key type."))
    else:
        key = dkim_key_generate(domain=domain, algorithm=algorithm)
        audit_record(request, action="dkim.generate", target=key.selector, domain=domain.name, algorithm=algorithm)
        messages.success(
            request,
            _("New DKIM key %(selector)s is now the signing key. Publish its record below.")
            % {"selector": key.selector},
        )
    return redirect("admin_panel:domain_dns", domain_id=domain.pk)


@require_POST
@admin_view
def dkim_activate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_visible(dkim_keys_for_admin(request.user), pk=key_id)
    dkim_key_activate(key_id=key.pk)
    audit_record(request, action="dkim.activate", target=key.selector, domain=key.domain.name)
    return redirect("admin_panel:domain_dns", domain_id=key.domain_id)


@require_POST
@admin_view
def dkim_remove(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_visible(dkim_keys_for_admin(request.user), pk=key_id)
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Tick the box to confirm removing the key."))
    else:
        try:
            dkim_key_remove(key_id=key.pk)
        except (StoreError, ValueError) as exc:
            messages.error(request, str(exc))
        else:
            audit_record(request, action="dkim.remove", target=key.selector, domain=key.domain.name)
            messages.success(request, _("DKIM key %(selector)s removed.") % {"selector": key.selector})
    return redirect("admin_panel:domain_dns", domain_id=key.domain_id)
