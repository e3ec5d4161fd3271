"""Rules and vacation reply, saved as the account's Sieve script over ManageSieve."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from webmail.imap.folders import folders_list
from webmail.sieve.client import SieveUnavailable, script_get, script_put
from webmail.sieve.rules import (
    ACTIONS,
    FIELDS,
    MATCHES,
    MAX_RULES,
    Rule,
    RuleInvalid,
    RuleSet,
    Vacation,
    script_build,
    script_parse,
)
from webmail.views.base import digits, imap, session_address, session_token, webmail_view


def _rules_from_post(request: HttpRequest) -> RuleSet:
    post = request.POST
    rules = []
    count = min(int(post.get("rule_count", "0") or 0), MAX_RULES + 1)
    for index in range(count):
        prefix = f"rule-{index}-"
        if post.get(prefix + "delete") or not post.get(prefix + "value", "").strip():
            continue
        rules.append(
            Rule(
                field=post.get(prefix + "field", "from"),
                header=post.get(prefix + "header", "").strip(),
                match=post.get(prefix + "match", "contains"),
                value=post.get(prefix + "value", "").strip(),
                action=post.get(prefix + "action", "fileinto"),
                argument=post.get(prefix + "argument", "").strip(),
                stop=bool(post.get(prefix + "stop")),
            )
        )
    vacation = Vacation(
        enabled=bool(post.get("vacation_enabled")),
        subject=post.get("vacation_subject", "").strip(),
        body=post.get("vacation_body", ""),
        days=int(post.get("vacation_days", "1") or 1) if digits(post.get("vacation_days", "1")) else 1,
        start=post.get("vacation_start", ""),
        end=post.get("vacation_end", ""),
    )
    return RuleSet(rules=rules, vacation=vacation)


@webmail_view
def rules_view(request: HttpRequest) -> HttpResponse:
    address, token = session_address(request), session_token(request)
    error = ""
    ruleset = RuleSet()
    if request.method == "POST":
        ruleset = _rules_from_post(request)
        try:
            script_put(address, token, script_build(ruleset))
            messages.success(request, _("Rules saved."))
            return redirect(reverse("webmail:rules"))
        except (RuleInvalid, ValueError) as problem:
            error = _("A rule is incomplete or invalid: %(reason)s") % {"reason": problem}
        except SieveUnavailable as problem:
            error = _("The rules could not be saved. The server said: %(reason)s") % {"reason": problem}
    else:
        try:
            ruleset = script_parse(script_get(address, token))
        except SieveUnavailable as problem:
            error = _("The rules server cannot be reached: %(reason)s") % {"reason": problem}
    with imap(request) as connection:
        folders = folders_list(connection, counts=False)
    context = {
        "folders": folders,
        "folder": None,
        "ruleset": ruleset,
        "blank_rules": range(len(ruleset.rules), len(ruleset.rules) + 1),
        "rule_count": len(ruleset.rules) + 1,
        "fields": FIELDS,
        "matches": MATCHES,
        "actions": ACTIONS,
        "error": error,
    }
    return render(request, "webmail/rules.html", context, status=400 if error and request.method == "POST" else 200)
