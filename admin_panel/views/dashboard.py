"""Dashboard: mail per hour and per day (SVG from the delivery log), queue, storage, logins."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from admin_panel.access import (
    delivery_log_for_admin,
    domains_for_admin,
    login_events_for_admin,
    queue_recipients_for_admin,
)
from admin_panel.charts import stacked_bars
from admin_panel.views.base import admin_view, render_page
from store.models import DeliveryLog, QueueState

TOP_COUNT = 10
HOURS_SHOWN = 24
DAYS_SHOWN = 14


def _series_labels() -> dict[str, str]:
    return {
        "received": _("received"),
        "delivered": _("delivered"),
        "queued": _("sent"),
        "relayed": _("relayed"),
        "bounced": _("bounced"),
        "rejected": _("rejected"),
    }


def _chart(lines: QuerySet[DeliveryLog], starts: list[datetime], trunc: type, fmt: str, title: str) -> str:
    labels = _series_labels()
    index = {start: i for i, start in enumerate(starts)}
    series = {label: [0] * len(starts) for label in labels.values()}
    rows = (
        lines.filter(created__gte=starts[0], event__in=list(labels))
        .annotate(bucket=trunc("created", tzinfo=timezone.get_current_timezone()))
        .values("bucket", "event")
        .annotate(n=Count("id"))
    )
    for row in rows:
        position = index.get(row["bucket"])
        if position is not None:
            series[labels[row["event"]]][position] += row["n"]
    buckets = [timezone.localtime(start).strftime(fmt) for start in starts]
    return stacked_bars(buckets, series, title)


def _hour_starts(now: datetime) -> list[datetime]:
    current = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=h) for h in range(HOURS_SHOWN - 1, -1, -1)]


def _day_starts(now: datetime) -> list[datetime]:
    current = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return [current - timedelta(days=d) for d in range(DAYS_SHOWN - 1, -1, -1)]


@admin_view
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    lines = delivery_log_for_admin(request.user)
    week = lines.filter(created__gte=now - timedelta(days=7))
    failed = login_events_for_admin(request.user).filter(success=False, created__gte=now - timedelta(days=1))
    queue_states = dict(
        queue_recipients_for_admin(request.user)
        .filter(state__in=(QueueState.QUEUED, QueueState.DEFERRED, QueueState.HELD))
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    context = {
        "hourly_chart": _chart(lines, _hour_starts(now), TruncHour, "%H", _("Mail in the last 24 hours")),
        "daily_chart": _chart(lines, _day_starts(now), TruncDay, "%m-%d", _("Mail in the last 14 days")),
        "queue_states": [(label, queue_states.get(value, 0), value) for value, label in QueueState.choices[:3]],
        "storage": domains_for_admin(request.user)
        .annotate(used=Sum("accounts__used_bytes"), quota=Sum("accounts__quota"), account_count=Count("accounts"))
        .order_by("-used", "name")[:20],
        "top_senders": week.filter(event__in=("received", "queued"))
        .exclude(sender="")
        .values("sender")
        .annotate(n=Count("id"))
        .order_by("-n", "sender")[:TOP_COUNT],
        "top_recipients": week.filter(event__in=("delivered", "relayed"))
        .values("recipient")
        .annotate(n=Count("id"))
        .order_by("-n", "recipient")[:TOP_COUNT],
        "failed_count": failed.count(),
        "failed_by_address": failed.values("address").annotate(n=Count("id")).order_by("-n", "address")[:TOP_COUNT],
        "failed_by_ip": failed.exclude(client_ip=None)
        .values("client_ip")
        .annotate(n=Count("id"))
        .order_by("-n", "client_ip")[:TOP_COUNT],
    }
    return render_page(request, "dashboard.html", context)
