"""The outbound queue: filters, a message's recipients and attempts, and the postmaster's actions."""

from __future__ import annotations

from datetime import timedelta
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from django.contrib import messages
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from admin_panel.access import delivery_log_for_admin, queue_for_admin
from admin_panel.audit import audit_record
from admin_panel.forms import ConfirmForm
from admin_panel.views.base import admin_view, get_visible, page_of, query_without_page, render_page
from store.errors import StoreError
from store.models import QueueState
from store.services.queue import queue_bounce, queue_delete, queue_hold, queue_release, queue_retry

UNFINISHED = (QueueState.QUEUED, QueueState.DEFERRED, QueueState.HELD)
ACTIONS = {
    "retry": (queue_retry, gettext_lazy("Retry now"), False),
    "hold": (queue_hold, gettext_lazy("Hold"), False),
    "release": (queue_release, gettext_lazy("Release"), False),
    "delete": (queue_delete, gettext_lazy("Delete without notice"), True),
    "bounce": (queue_bounce, gettext_lazy("Bounce to the sender"), True),
}
AGE_CHOICES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "1d": timedelta(days=1), "3d": timedelta(days=3)}


@admin_view
def queue_list(request: HttpRequest) -> HttpResponse:
    rows = queue_for_admin(request.user)
    state = request.GET.get("state", "")
    if state in QueueState.values:
        rows = rows.filter(recipients__state=state)
    elif state != "all":
        rows = rows.filter(recipients__state__in=UNFINISHED)
    for field, lookup in (("sender", "sender__icontains"), ("recipient", "recipients__address__icontains")):
        value = request.GET.get(field, "").strip()
        if value:
            rows = rows.filter(**{lookup: value})
    domain = request.GET.get("domain", "").strip().lower()
    if domain:
        rows = rows.filter(recipients__domain__icontains=domain)
    age = request.GET.get("age", "")
    if age in AGE_CHOICES:
        rows = rows.filter(created__lte=timezone.now() - AGE_CHOICES[age])
    rows = rows.annotate(
        recipient_count=Count("recipients", distinct=True),
        pending=Count("recipients", filter=Q(recipients__state__in=UNFINISHED), distinct=True),
        next_attempt=Min("recipients__next_attempt", filter=Q(recipients__state__in=UNFINISHED)),
    ).order_by("-created", "-pk")
    totals = dict(
        queue_for_admin(request.user)
        .filter(recipients__state__in=UNFINISHED)
        .values_list("recipients__state")
        .annotate(n=Count("recipients"))
        .values_list("recipients__state", "n")
    )
    context = {
        "page": page_of(request, rows),
        "filters": request.GET,
        "states": QueueState.choices,
        "ages": list(AGE_CHOICES),
        "totals": totals,
        "query_string": query_without_page(request),
    }
    return render_page(request, "queue_list.html", context)


def _subject(envelope: object) -> str:
    """The decoded Subject from a stored IMAP ENVELOPE (RFC 3501 §7.4.2: date, subject, ...)."""
    raw = envelope[1] if isinstance(envelope, list) and len(envelope) > 1 else None
    if not isinstance(raw, str):
        return ""
    try:
        return str(make_header(decode_header(raw)))
    except (UnicodeError, LookupError, HeaderParseError):
        return raw


@admin_view
def queue_detail(request: HttpRequest, outbound_id: int) -> HttpResponse:
    outbound = get_visible(queue_for_admin(request.user).select_related("blob"), pk=outbound_id)
    attempts = delivery_log_for_admin(request.user).filter(queue_id=outbound.pk).order_by("created", "id")
    context = {
        "message": outbound,
        "subject": _subject(outbound.blob.envelope),
        "recipients": outbound.recipients.order_by("domain", "address"),
        "attempts": attempts,
        "actions": [(name, label, confirm) for name, (_fn, label, confirm) in ACTIONS.items()],
    }
    return render_page(request, "queue_detail.html", context)


@admin_view
def queue_action(request: HttpRequest, outbound_id: int, action: str) -> HttpResponse:
    """Retry, hold and release act on POST; delete and bounce first ask for confirmation."""
    if action not in ACTIONS:
        raise Http404
    outbound = get_visible(queue_for_admin(request.user), pk=outbound_id)
    service, label, needs_confirm = ACTIONS[action]
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and (not needs_confirm or form.is_valid()):
        try:
            count = service(outbound_id=outbound.pk)
        except StoreError as exc:
            messages.error(request, str(exc))
            return redirect("admin_panel:queue_list")
        sender_domain = outbound.sender.rpartition("@")[2] or outbound.submitted_by.rpartition("@")[2]
        audit_record(request, action=f"queue.{action}", target=str(outbound.pk), domain=sender_domain, recipients=count)
        messages.success(
            request,
            _("%(action)s: %(count)d recipients of message %(id)d.")
            % {"action": label, "count": count, "id": outbound.pk},
        )
        if action == "delete":
            return redirect("admin_panel:queue_list")
        return redirect("admin_panel:queue_detail", outbound_id=outbound.pk)
    if not needs_confirm:
        return redirect("admin_panel:queue_detail", outbound_id=outbound.pk)
    return render_page(
        request, "queue_confirm.html", {"message": outbound, "action": action, "label": label, "form": form}
    )
