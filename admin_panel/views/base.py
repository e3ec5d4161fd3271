"""What every admin view shares: the access check, object lookup through access, paging."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from admin_panel.access import is_admin, is_superadmin

ModelT = TypeVar("ModelT", bound=Model)
LOGIN_URL = "admin_panel:login"

View = Callable[..., HttpResponse]


def admin_view(view: View) -> View:
    """Anonymous visitors go to the login page; signed-in users without an admin role get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            from django.urls import reverse

            return redirect_to_login(request.get_full_path(), reverse(LOGIN_URL))
        if not is_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def superadmin_view(view: View) -> View:
    @admin_view
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_superadmin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def get_visible(queryset: QuerySet[ModelT], **lookup: Any) -> ModelT:
    """The object from an access selector's queryset, or 404: other domains' objects do not exist."""
    found = queryset.filter(**lookup).first()
    if found is None:
        raise Http404
    return found


def page_of(request: HttpRequest, queryset: Any, size: int | None = None) -> Page:
    """One page (LIMIT/OFFSET in SQL), the page number taken from ?page=."""
    return Paginator(queryset, size or settings.YUBIN_ADMIN_PAGE_SIZE).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def render_page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"admin_panel/{template}", context, status=status)
