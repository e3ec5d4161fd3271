"""Login and logout.

Login checks the password through agents.auth.credentials_check (authenticate(): database or LDAP) under
the shared failure throttle, then issues a short-lived token for IMAP/submission/ManageSieve;
the session holds only that token, never the password. Logout closes the IMAP connections and
revokes the token.
"""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from agents.auth import Throttled, credentials_check, session_backend
from store.services.tokens import token_issue, token_revoke
from webmail.forms import LoginForm
from webmail.imap.pool import POOL, ImapUnavailable
from webmail.preferences import preferences_for
from webmail.uploads import uploads_discard
from webmail.views.base import SESSION_ADDRESS, SESSION_TOKEN, security_headers, session_token


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    error = ""
    if request.GET.get("expired"):
        error = _("Your session has ended. Please log in again.")
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["address"].strip().lower()
        client_ip = _client_ip(request)
        try:
            account = credentials_check(
                address=address, password=form.cleaned_data["password"], protocol="web", client_ip=client_ip
            )
        except Throttled:
            error = _("Too many failed attempts. Please wait a few minutes and try again.")
        else:
            if account is None:
                error = _("The address or password is not correct.")
            else:
                return _logged_in(request, account)
    response = render(request, "webmail/login.html", {"form": form, "error": error}, status=401 if error else 200)
    return security_headers(response)


def _logged_in(request: HttpRequest, account) -> HttpResponse:  # type: ignore[no-untyped-def]
    token = token_issue(account=account, purpose="webmail")
    login(request, account, backend=session_backend(account))  # a new session key: no fixation
    request.session[SESSION_TOKEN] = token
    request.session[SESSION_ADDRESS] = account.address
    try:  # open the IMAP connection now so the first page is fast
        with POOL.acquire(account.address, token):
            pass
    except ImapUnavailable:
        pass  # the mailbox page says what is wrong
    language = preferences_for(account.address).language
    translation.activate(language)
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = reverse("webmail:mailbox")
    return redirect(target or reverse("webmail:mailbox"))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    token = session_token(request)
    if token:
        POOL.close(token)
        token_revoke(token=token)
        uploads_discard(token)
    logout(request)
    return redirect(reverse("webmail:login"))
