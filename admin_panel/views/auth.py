"""Login and logout of administrators, through Django's authenticate() like every protocol.

Failures count in the shared throttle (agents.throttle) and are recorded in the login log, so a
password guessed at the panel is throttled together with IMAP, SMTP and POP3 guesses.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from admin_panel.access import is_admin
from admin_panel.audit import audit_record, client_ip_of
from admin_panel.views.base import render_page
from agents.auth import Throttled, credentials_check, session_backend
from store.services.log import login_record

LOGIN_PROTOCOL = "web"


class LoginForm(forms.Form):
    address = forms.CharField(label=gettext_lazy("Address"), max_length=320)
    password = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput, max_length=1024)


@never_cache
@csrf_protect
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    if request.user.is_authenticated and is_admin(request.user):
        return HttpResponseRedirect(next_url or reverse("admin_panel:dashboard"))
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["address"].strip()
        client_ip = client_ip_of(request)
        try:
            user = credentials_check(
                address=address, password=form.cleaned_data["password"], protocol=LOGIN_PROTOCOL, client_ip=client_ip
            )
        except Throttled:
            error = _("Too many failed attempts. Try again in a few minutes.")
        else:
            if user is None:  # the failure is counted and logged by credentials_check
                error = _("Wrong address or password.")
            elif not is_admin(user):
                login_record(address=user.address, client_ip=client_ip, protocol=LOGIN_PROTOCOL, success=True)
                error = _("This account has no administration rights.")
            else:
                login_record(address=user.address, client_ip=client_ip, protocol=LOGIN_PROTOCOL, success=True)
                login(request, user, backend=session_backend(user))
                audit_record(request, action="login", target=user.address)
                return HttpResponseRedirect(next_url or reverse("admin_panel:dashboard"))
    return render_page(request, "login.html", {"form": form, "error": error, "next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("admin_panel:login")
