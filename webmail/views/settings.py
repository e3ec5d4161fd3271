"""Settings: display name, signature, language, time zone, page size, conversation view."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from webmail.forms import SettingsForm
from webmail.imap.folders import folders_list
from webmail.preferences import preferences_save
from webmail.views.base import imap, prefs, webmail_view


@webmail_view
def settings_view(request: HttpRequest) -> HttpResponse:
    preferences = prefs(request)
    initial = {
        "display_name": preferences.display_name,
        "signature": preferences.signature,
        "language": preferences.language,
        "time_zone": preferences.time_zone,
        "page_size": preferences.page_size,
        "threads": preferences.threads,
        "compose_html": preferences.compose_html,
        "remote_content_senders": "\n".join(preferences.remote_content_senders),
    }
    form = SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        for name in ("display_name", "signature", "language", "time_zone", "page_size", "threads", "compose_html"):
            setattr(preferences, name, form.cleaned_data[name])
        preferences.remote_content_senders = [
            line.strip().lower() for line in form.cleaned_data["remote_content_senders"].splitlines() if "@" in line
        ]
        preferences_save(preferences)
        translation.activate(preferences.language)
        messages.success(request, _("Settings saved."))
        return redirect(reverse("webmail:settings"))
    with imap(request) as connection:
        folders = folders_list(connection)
    return render(request, "webmail/settings.html", {"form": form, "folders": folders, "folder": None})
