"""The audit log, filterable by who, what, domain and time."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from admin_panel.access import audit_for_admin
from admin_panel.views.base import admin_view, page_of, query_without_page, render_page
from admin_panel.views.tracking import parse_moment


@admin_view
def audit_list(request: HttpRequest) -> HttpResponse:
    entries = audit_for_admin(request.user)
    params = request.GET
    if params.get("actor", "").strip():
        entries = entries.filter(actor_address__icontains=params["actor"].strip())
    if params.get("action", "").strip():
        entries = entries.filter(action__startswith=params["action"].strip())
    if params.get("target", "").strip():
        entries = entries.filter(target__icontains=params["target"].strip())
    if params.get("domain", "").strip():
        entries = entries.filter(domain=params["domain"].strip().lower())
    for field, lookup in (("since", "created__gte"), ("until", "created__lte")):
        moment = parse_moment(params.get(field, ""))
        if moment is not None:
            entries = entries.filter(**{lookup: moment})
    actions = audit_for_admin(request.user).values_list("action", flat=True).distinct().order_by("action")
    context = {
        "page": page_of(request, entries),
        "filters": params,
        "actions": list(actions),
        "query_string": query_without_page(request),
    }
    return render_page(request, "audit_list.html", context)
