"""Message tracking: search the delivery log and show one message's whole path."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from admin_panel.access import delivery_log_for_admin
from admin_panel.views.base import admin_view, get_visible, page_of, query_without_page, render_page
from store.models import LogEvent


def parse_moment(text: str) -> datetime | None:
    value = parse_datetime(text.strip().replace(" ", "T")) if text.strip() else None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


@admin_view
def tracking_search(request: HttpRequest) -> HttpResponse:
    lines = delivery_log_for_admin(request.user)
    params = request.GET
    errors = []
    if params.get("sender", "").strip():
        lines = lines.filter(sender__icontains=params["sender"].strip())
    if params.get("recipient", "").strip():
        lines = lines.filter(recipient__icontains=params["recipient"].strip())
    if params.get("message_id", "").strip():
        wanted = params["message_id"].strip().strip("<>")
        lines = lines.filter(Q(message_id=f"<{wanted}>") | Q(message_id=wanted))
    if params.get("queue_id", "").strip():
        if params["queue_id"].strip().isdigit():
            lines = lines.filter(queue_id=int(params["queue_id"]))
        else:
            errors.append("queue_id")
    if params.get("event") in LogEvent.values:
        lines = lines.filter(event=params["event"])
    for field, lookup in (("since", "created__gte"), ("until", "created__lte")):
        if params.get(field, "").strip():
            moment = parse_moment(params[field])
            if moment is None:
                errors.append(field)
            else:
                lines = lines.filter(**{lookup: moment})
    context = {
        "page": page_of(request, lines.order_by("-created", "-id")),
        "filters": params,
        "events": LogEvent.choices,
        "errors": errors,
        "query_string": query_without_page(request),
    }
    return render_page(request, "tracking_search.html", context)


@admin_view
def tracking_path(request: HttpRequest, log_id: int) -> HttpResponse:
    """Every log line of the message this line belongs to (same Message-ID or queue id), in order."""
    visible = delivery_log_for_admin(request.user)
    line = get_visible(visible, pk=log_id)
    related = Q(pk=line.pk)
    if line.message_id:
        related |= Q(message_id=line.message_id)
    if line.queue_id:
        related |= Q(queue_id=line.queue_id)
    path = visible.filter(related).order_by("created", "id")
    return render_page(request, "tracking_path.html", {"line": line, "path": path})
