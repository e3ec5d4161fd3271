"""CSV import (preview with per-line errors, then apply) and export of accounts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from admin_panel.access import accounts_for_admin
from admin_panel.audit import audit_record
from admin_panel.csv_import import ImportPlan, export_rows, import_apply, import_plan
from admin_panel.forms import CsvUploadForm
from admin_panel.views.base import admin_view, render_page


@never_cache
@admin_view
def account_import(request: HttpRequest) -> HttpResponse:
    """POST with the file shows the preview; POST with apply=1 re-checks the same text and writes."""
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        return render_page(request, "account_import.html", {"form": form})
    text = form.cleaned_data["text"]
    plan = import_plan(request.user, text)
    if request.POST.get("apply") == "1" and plan.ok:
        generated = import_apply(request.user, plan)
        for domain_name, addresses in plan.changed_by_domain().items():
            audit_record(request, action="account.import", domain=domain_name, addresses=addresses)
        context = {"plan": plan, "generated": generated, **_counts(plan)}
        return render_page(request, "account_import_done.html", context)
    return render_page(request, "account_import.html", {"form": form, "plan": plan, "text": text, **_counts(plan)})


def _counts(plan: ImportPlan) -> dict[str, int]:
    return {"plan_create": plan.count("create"), "plan_update": plan.count("update")}


@admin_view
def account_export(request: HttpRequest) -> HttpResponse:
    accounts = accounts_for_admin(request.user).order_by("address")
    if request.GET.get("domain", "").isdigit():
        accounts = accounts.filter(domain_id=int(request.GET["domain"]))
    response = HttpResponse(export_rows(accounts), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="accounts-{stamp}.csv"'
    return response
