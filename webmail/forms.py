"""Webmail forms: login and settings (the compose, rules and search forms post plain fields)."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings as django_settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webmail.preferences import PAGE_SIZES


class LoginForm(forms.Form):
    address = forms.CharField(label=gettext_lazy("Email address"), max_length=320)
    password = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput, max_length=1024)


COMMON_ZONES = ["UTC", "Asia/Tokyo", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles"]


class SettingsForm(forms.Form):
    display_name = forms.CharField(label=gettext_lazy("Display name"), max_length=200, required=False)
    signature = forms.CharField(
        label=gettext_lazy("Signature"), widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=4000
    )
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=django_settings.LANGUAGES)
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"))
    page_size = forms.TypedChoiceField(
        label=gettext_lazy("Messages per page"), coerce=int, choices=[(n, n) for n in PAGE_SIZES]
    )
    threads = forms.BooleanField(label=gettext_lazy("Group messages into conversations"), required=False)
    compose_html = forms.BooleanField(label=gettext_lazy("Write rich text (HTML) by default"), required=False)
    remote_content_senders = forms.CharField(
        label=gettext_lazy("Always show remote images from these senders (one per line)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        zones = COMMON_ZONES + sorted(z for z in zoneinfo.available_timezones() if z not in COMMON_ZONES and "/" in z)
        self.fields["time_zone"].choices = [(z, z) for z in zones]  # type: ignore[attr-defined]  # a ChoiceField

    def clean_display_name(self) -> str:
        value = self.cleaned_data["display_name"]
        if any(c in value for c in "\r\n\x00"):
            raise forms.ValidationError(_("Line breaks are not allowed here."))
        return value
