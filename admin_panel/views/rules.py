"""Folder rules (Sieve, RFC 5228) of an account or a whole domain: builder and raw scripts.

Domain rules run before the account's own (the MDA does that); here both are edited the same
way. Every script is validated by the MDA's parser before it is stored, and its error, with the
line, is shown next to the script.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from admin_panel.access import accounts_for_admin, domains_for_admin, scripts_for_admin
from admin_panel.audit import audit_record
from admin_panel.forms import ConfirmForm, ScriptForm
from admin_panel.rule_builder import RuleError, rules_from_script, rules_to_script
from admin_panel.rule_forms import RuleForm
from admin_panel.views.base import admin_view, get_visible, page_of, render_page
from agents.mda.sieve import sieve_validate
from store.errors import StoreError
from store.models import Account, Domain, SieveScript
from store.services.sieve import sieve_script_activate, sieve_script_delete, sieve_script_put

BUILDER_SCRIPT_NAME = "rules"


@dataclass
class Owner:
    kind: str  # "account" | "domain"
    account: Account | None
    domain: Domain | None

    @property
    def label(self) -> str:
        return self.account.address if self.account else self.domain.name  # type: ignore[union-attr]

    @property
    def domain_name(self) -> str:
        return self.account.domain.name if self.account else self.domain.name  # type: ignore[union-attr]

    @property
    def pk(self) -> int:
        return (self.account or self.domain).pk  # type: ignore[union-attr]

    def scripts(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        scripts = scripts_for_admin(request.user)
        return scripts.filter(account=self.account) if self.account else scripts.filter(domain=self.domain)

    def url(self) -> str:
        return reverse("admin_panel:owner_rules", kwargs={"kind": self.kind, "owner_id": self.pk})


def _owner(request: HttpRequest, kind: str, owner_id: int) -> Owner:
    if kind == "account":
        return Owner(kind, get_visible(accounts_for_admin(request.user), pk=owner_id), None)
    if kind == "domain":
        return Owner(kind, None, get_visible(domains_for_admin(request.user), pk=owner_id))
    raise Http404


@admin_view
def rule_index(request: HttpRequest) -> HttpResponse:
    scripts = scripts_for_admin(request.user).order_by("domain__name", "account__address", "name")
    context = {"page": page_of(request, scripts), "domains": domains_for_admin(request.user)}
    return render_page(request, "rule_index.html", context)


@admin_view
def owner_rules(request: HttpRequest, kind: str, owner_id: int) -> HttpResponse:
    owner = _owner(request, kind, owner_id)
    scripts = list(owner.scripts(request).order_by("name"))
    builder = next((s for s in scripts if s.name == BUILDER_SCRIPT_NAME), None)
    rules = rules_from_script(builder.content) if builder else []
    context = {"owner": owner, "scripts": scripts, "builder": builder, "rules": rules}
    return render_page(request, "owner_rules.html", context)


def _save_script(request: HttpRequest, owner: Owner, name: str, content: str, active: bool) -> str | None:
    """Validate and store; returns the parser's error ('line N: reason') or None."""
    error = sieve_validate(content)
    if error:
        return error
    try:
        sieve_script_put(name=name, content=content, account=owner.account, domain=owner.domain, activate=active)
    except (StoreError, ValueError) as exc:
        return str(exc)
    audit_record(request, action="rules.save", target=f"{owner.label}: {name}", domain=owner.domain_name)
    return None


@admin_view
def rule_builder(request: HttpRequest, kind: str, owner_id: int) -> HttpResponse:
    """Add a rule (or edit rule ?rule=N) of the builder's script, which becomes the active one."""
    owner = _owner(request, kind, owner_id)
    script = owner.scripts(request).filter(name=BUILDER_SCRIPT_NAME).first()
    rules = rules_from_script(script.content) if script else []
    if rules is None:
        messages.error(request, _("The “rules” script was edited by hand; edit it as a script."))
        return redirect(owner.url())
    index_text = request.GET.get("rule", "")
    index = int(index_text) if index_text.isdigit() and int(index_text) < len(rules) else None
    initial = RuleForm.initial_for(rules[index]) if index is not None else {"match": "allof"}
    form = RuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        new_rules = list(rules)
        if index is None:
            new_rules.append(form.rule())
        else:
            new_rules[index] = form.rule()
        try:
            content = rules_to_script(new_rules)
        except RuleError as exc:
            form.add_error(None, str(exc))
        else:
            error = _save_script(request, owner, BUILDER_SCRIPT_NAME, content, active=True)
            if error is None:
                messages.success(request, _("Rule saved."))
                return redirect(owner.url())
            form.add_error(None, error)
    return render_page(request, "rule_builder.html", {"owner": owner, "form": form, "index": index})


@require_POST
@admin_view
def rule_remove(request: HttpRequest, kind: str, owner_id: int, index: int) -> HttpResponse:
    owner = _owner(request, kind, owner_id)
    script = get_visible(owner.scripts(request), name=BUILDER_SCRIPT_NAME)
    rules = rules_from_script(script.content)
    if rules is None or index >= len(rules):
        raise Http404
    del rules[index]
    error = _save_script(request, owner, BUILDER_SCRIPT_NAME, rules_to_script(rules), active=script.active)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Rule removed."))
    return redirect(owner.url())


@admin_view
def script_edit(request: HttpRequest, kind: str, owner_id: int, script_id: int | None = None) -> HttpResponse:
    owner = _owner(request, kind, owner_id)
    script: SieveScript | None = get_visible(owner.scripts(request), pk=script_id) if script_id else None
    initial = {"name": script.name, "content": script.content, "active": script.active} if script else {}
    form = ScriptForm(request.POST or None, initial=initial or {"active": True, "content": 'require ["fileinto"];\n'})
    if script:
        form.fields["name"].disabled = True
    if request.method == "POST" and form.is_valid():
        name = script.name if script else form.cleaned_data["name"]
        if not script and owner.scripts(request).filter(name=name).exists():
            form.add_error("name", _("A script with this name exists already."))
        else:
            error = _save_script(request, owner, name, form.cleaned_data["content"], form.cleaned_data["active"])
            if error is None:
                if script and script.active and not form.cleaned_data["active"]:
                    sieve_script_activate(name=None, account=owner.account, domain=owner.domain)
                messages.success(request, _("Script %(name)s saved.") % {"name": name})
                return redirect(owner.url())
            form.add_error("content", error)
    return render_page(request, "script_form.html", {"owner": owner, "form": form, "script": script})


@require_POST
@admin_view
def script_activate(request: HttpRequest, kind: str, owner_id: int, script_id: int) -> HttpResponse:
    owner = _owner(request, kind, owner_id)
    script = get_visible(owner.scripts(request), pk=script_id)
    name = None if script.active else script.name
    sieve_script_activate(name=name, account=owner.account, domain=owner.domain)
    audit_record(request, action="rules.activate", target=f"{owner.label}: {name or '-'}", domain=owner.domain_name)
    return redirect(owner.url())


@admin_view
def script_delete(request: HttpRequest, kind: str, owner_id: int, script_id: int) -> HttpResponse:
    owner = _owner(request, kind, owner_id)
    script = get_visible(owner.scripts(request), pk=script_id)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if script.active:
            sieve_script_activate(name=None, account=owner.account, domain=owner.domain)
        sieve_script_delete(name=script.name, account=owner.account, domain=owner.domain)
        audit_record(request, action="rules.delete", target=f"{owner.label}: {script.name}", domain=owner.domain_name)
        messages.success(request, _("Script %(name)s deleted.") % {"name": script.name})
        return redirect(owner.url())
    return render_page(request, "script_delete.html", {"owner": owner, "script": script, "form": form})
