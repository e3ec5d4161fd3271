"""What every webmail view shares: the session's IMAP connection, errors in words, headers.

`webmail_view` wraps each view: it sends anonymous users to the login page, activates the
user's language and time zone, turns IMAP trouble into a page that says what happened, and sets
the Content-Security-Policy of the application pages (no inline script, nothing remote).
"""

from __future__ import annotations

import functools
import logging
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from imapclient.exceptions import IMAPClientError

from webmail.imap.pool import POOL, Connection, ImapAuthExpired, ImapUnavailable
from webmail.models import Preferences
from webmail.preferences import preferences_for

log = logging.getLogger(__name__)

SESSION_TOKEN = "webmail_token"  # noqa: S105  # the session key name, not a secret
SESSION_ADDRESS = "webmail_address"
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def digits(text: str) -> bool:
    """A form or query value that int() takes as the number it shows: ASCII digits only
    (str.isdigit also takes '²' and other scripts' digits, which int() refuses)."""
    return text.isascii() and text.isdigit()


def session_token(request: HttpRequest) -> str:
    return str(request.session.get(SESSION_TOKEN, ""))


def session_address(request: HttpRequest) -> str:
    return str(request.session.get(SESSION_ADDRESS, ""))


@contextmanager
def imap(request: HttpRequest, slot: str = "main") -> Iterator[Connection]:
    with POOL.acquire(session_address(request), session_token(request), slot) as connection:
        yield connection


def prefs(request: HttpRequest) -> Preferences:
    cached = getattr(request, "_webmail_prefs", None)
    if cached is None:
        cached = preferences_for(session_address(request))
        request._webmail_prefs = cached  # type: ignore[attr-defined]  # per-request cache
    return cached


def wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json") or request.GET.get("format") == "json"


def error_page(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "webmail/error.html", {"message": message}, status=status)


def security_headers(response: HttpResponse) -> HttpResponse:
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = APP_CSP
    response.setdefault("Cache-Control", "no-store")
    return response


def webmail_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated or not session_token(request):
            if wants_json(request):
                return security_headers(JsonResponse({"error": _("Your session has ended.")}, status=401))
            return redirect(f"{reverse('webmail:login')}?next={request.get_full_path()}")
        preferences = prefs(request)
        translation.activate(preferences.language)
        request.LANGUAGE_CODE = preferences.language
        try:
            timezone.activate(zoneinfo.ZoneInfo(preferences.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            try:
                response = view(request, *args, **kwargs)
            except ImapAuthExpired:
                raise
            except ImapUnavailable:
                if request.method not in ("GET", "HEAD"):
                    raise
                # the pooled connection was dropped (server restart, timeout): reads retry once
                response = view(request, *args, **kwargs)
        except ImapAuthExpired:
            token = session_token(request)
            POOL.close(token)
            logout(request)
            response = redirect(reverse("webmail:login") + "?expired=1")
        except ImapUnavailable as error:
            log.warning("IMAP unavailable for %s: %s", session_address(request), error)
            response = error_page(
                request, _("The mail server cannot be reached right now. Please try again in a moment."), 503
            )
        except IMAPClientError as error:
            response = error_page(request, _("The mail server refused this: %(reason)s") % {"reason": error}, 400)
        except Http404:
            response = error_page(request, _("This message, part or folder does not exist."), 404)
        return security_headers(response)

    return wrapper
