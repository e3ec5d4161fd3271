"""Template filters of the admin panel: sizes and quotas in words."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

register = template.Library()


@register.filter(name="bytes")
def bytes_filter(value: int | None) -> str:
    return str(filesizeformat(value or 0))


@register.filter
def quota(value: int | None) -> str:
    return _("unlimited") if not value else str(filesizeformat(value))


@register.filter
def usage_percent(used: int | None, limit: int | None) -> int:
    if not limit:
        return 0
    return min(100, round(100 * (used or 0) / limit))
