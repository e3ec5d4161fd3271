"""Forms of the admin panel; every error is a sentence shown next to its field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from store.addresses import AddressError, normalize_address, normalize_domain
from store.models import Domain, Role
from yubin.config import parse_size

MIN_PASSWORD_LENGTH = 8  # the CLI's minimum as well


def format_size(size: int) -> str:
    """Bytes to a short text such as 2G or 500M; the inverse of yubin.config.parse_size."""
    if size <= 0:
        return "0"
    for unit in ("", "K", "M", "G", "T"):
        if size % 1024 or unit == "T":
            return f"{size}{unit}"
        size //= 1024
    return str(size)


class SizeField(forms.CharField):
    """A byte size typed as 500M, 2G or a number of bytes; 0 means unlimited or default."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("For example 500M or 2G; 0 for none."))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return format_size(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int:  # type: ignore[override]
        if isinstance(value, int):  # a disabled field gives back its initial value
            return value
        text = (value or "").strip()
        if not text:
            return 0
        try:
            return parse_size(text)
        except ValueError:
            raise forms.ValidationError(_("Enter a size such as 500M or 2G.")) from None


def clean_address(text: str) -> str:
    try:
        return normalize_address(text)
    except AddressError:
        raise forms.ValidationError(_("“%(value)s” is not a valid mail address."), params={"value": text}) from None


class DomainCreateForm(forms.Form):
    name = forms.CharField(label=_("Domain name"), max_length=253)
    default_quota = SizeField(label=_("Default quota of new accounts"), required=False)
    max_accounts = forms.IntegerField(label=_("Maximum accounts"), min_value=0, initial=0, required=False)
    max_message_size = SizeField(label=_("Maximum message size"), required=False)

    def clean_name(self) -> str:
        try:
            return normalize_domain(self.cleaned_data["name"])
        except AddressError:
            raise forms.ValidationError(_("This is not a valid domain name.")) from None

    def clean_max_accounts(self) -> int:
        return self.cleaned_data.get("max_accounts") or 0


class DomainEditForm(forms.Form):
    active = forms.BooleanField(label=_("Active (receives and sends mail)"), required=False)
    default_quota = SizeField(label=_("Default quota of new accounts"), required=False)
    max_accounts = forms.IntegerField(label=_("Maximum accounts"), min_value=0, required=False)
    max_message_size = SizeField(label=_("Maximum message size"), required=False)
    catch_all = forms.CharField(
        label=_("Catch-all destinations"),
        required=False,
        help_text=_("Addresses that receive mail for unknown local parts, separated by commas; empty for none."),
    )

    def clean_max_accounts(self) -> int:
        return self.cleaned_data.get("max_accounts") or 0

    def clean_catch_all(self) -> list[str]:
        return address_list(self.cleaned_data.get("catch_all", ""))


def address_list(text: str) -> list[str]:
    parts = [part.strip() for part in text.replace("\n", ",").replace(";", ",").split(",")]
    return [clean_address(part) for part in parts if part]


class DomainDeleteForm(forms.Form):
    confirm_name = forms.CharField(label=_("Type the domain name to confirm"))
    remove_mail = forms.BooleanField(label=_("Also remove every account of this domain and their mail"), required=False)

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.domain = domain

    def clean_confirm_name(self) -> str:
        if self.cleaned_data["confirm_name"].strip().lower() != self.domain.name:
            raise forms.ValidationError(_("This is not the domain's name."))
        return self.domain.name


class AccountCreateForm(forms.Form):
    local_part = forms.CharField(label=_("Address"), max_length=64)
    domain = forms.ModelChoiceField(label=_("Domain"), queryset=Domain.objects.none(), empty_label=None)
    display_name = forms.CharField(label=_("Display name"), max_length=200, required=False)
    password = forms.CharField(
        label=_("Password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to generate one; it is shown once."),
    )
    quota = SizeField(label=_("Quota"), required=False, help_text=_("Empty for the domain's default; 0 for unlimited."))

    def __init__(self, *args: Any, domains: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].queryset = domains  # type: ignore[attr-defined]

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        if password and len(password) < MIN_PASSWORD_LENGTH:
            raise forms.ValidationError(_("At least %(n)d characters."), params={"n": MIN_PASSWORD_LENGTH})
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("local_part") and data.get("domain"):
            try:
                data["address"] = normalize_address(f"{data['local_part']}@{data['domain'].name}")
            except AddressError:
                self.add_error("local_part", _("This is not a valid local part of an address."))
        if not (self.data.get("quota") or "").strip():
            data["quota"] = None
        return data


class AccountEditForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=200, required=False)
    quota = SizeField(label=_("Quota"), required=False, help_text=_("0 for unlimited."))
    is_active = forms.BooleanField(label=_("Active (can log in and receive mail)"), required=False)


class AccountRoleForm(forms.Form):
    """Superadmins only: the role and, for domain administrators, their domains."""

    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    admin_domains = forms.ModelMultipleChoiceField(
        label=_("Administers domains"), queryset=Domain.objects.all(), required=False
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=_("New password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to generate one; it is shown once."),
    )

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        if password and len(password) < MIN_PASSWORD_LENGTH:
            raise forms.ValidationError(_("At least %(n)d characters."), params={"n": MIN_PASSWORD_LENGTH})
        return password


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, I am sure"), required=True)


class AliasForm(forms.Form):
    source = forms.CharField(
        label=_("Source address"), max_length=320, help_text=_("local@domain, or @domain for a catch-all.")
    )
    destinations = forms.CharField(
        label=_("Destinations"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One or more addresses, local or external, separated by commas or lines."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def clean_destinations(self) -> list[str]:
        addresses = address_list(self.cleaned_data.get("destinations", ""))
        if not addresses:
            raise forms.ValidationError(_("Give at least one destination."))
        return addresses

    def clean_source(self) -> str:
        text = self.cleaned_data["source"].strip()
        if text.startswith("@"):
            try:
                return "@" + normalize_domain(text[1:])
            except AddressError:
                raise forms.ValidationError(_("This is not a valid domain name.")) from None
        return clean_address(text)


class CsvUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), required=False)
    text = forms.CharField(label=_("or paste the lines"), widget=forms.Textarea(attrs={"rows": 6}), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload:
            if upload.size > 5 * 1024 * 1024:
                raise forms.ValidationError(_("The file is larger than 5 MB."))
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(_("The file is not UTF-8 text.")) from None
        if not (data.get("text") or "").strip():
            raise forms.ValidationError(_("Choose a file or paste lines."))
        return data


class ScriptForm(forms.Form):
    name = forms.CharField(label=_("Script name"), max_length=200)
    content = forms.CharField(
        label=_("Sieve script"), widget=forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false"})
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
