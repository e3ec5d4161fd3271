"""The rule builder's form: a name, up to four conditions, up to three actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from admin_panel.rule_builder import Action, Condition, Rule

CONDITION_ROWS = 4
ACTION_ROWS = 3

FIELD_CHOICES = [
    ("", "—"),
    ("from", _("From")),
    ("to", _("To")),
    ("cc", _("Cc")),
    ("any-recipient", _("To or Cc")),
    ("subject", _("Subject")),
    ("list-id", _("List-Id")),
    ("size", _("Size")),
]
OP_CHOICES = [
    ("contains", _("contains")),
    ("is", _("is")),
    ("matches", _("matches (* and ?)")),
    ("over", _("is over (size)")),
    ("under", _("is under (size)")),
]
ACTION_CHOICES = [
    ("", "—"),
    ("fileinto", _("Move into folder")),
    ("redirect", _("Forward to")),
    ("redirect_copy", _("Forward a copy to")),
    ("keep", _("Keep in Inbox")),
    ("discard", _("Discard")),
    ("stop", _("Stop processing rules")),
]


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Rule name"), max_length=100)
    match = forms.ChoiceField(
        label=_("Apply when"),
        choices=[("allof", _("all conditions match")), ("anyof", _("any condition matches"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(CONDITION_ROWS):
            self.fields[f"cond{i}_field"] = forms.ChoiceField(label=_("Field"), choices=FIELD_CHOICES, required=False)
            self.fields[f"cond{i}_op"] = forms.ChoiceField(label=_("Comparison"), choices=OP_CHOICES, required=False)
            self.fields[f"cond{i}_value"] = forms.CharField(label=_("Value"), max_length=500, required=False)
        for i in range(ACTION_ROWS):
            self.fields[f"act{i}_type"] = forms.ChoiceField(label=_("Action"), choices=ACTION_CHOICES, required=False)
            self.fields[f"act{i}_value"] = forms.CharField(label=_("Folder or address"), max_length=500, required=False)

    def condition_rows(self) -> list[tuple[Any, Any, Any]]:
        return [(self[f"cond{i}_field"], self[f"cond{i}_op"], self[f"cond{i}_value"]) for i in range(CONDITION_ROWS)]

    def action_rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"act{i}_type"], self[f"act{i}_value"]) for i in range(ACTION_ROWS)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for i in range(CONDITION_ROWS):
            field, op, value = data.get(f"cond{i}_field"), data.get(f"cond{i}_op"), data.get(f"cond{i}_value", "")
            if not field:
                continue
            if field == "size" and op not in ("over", "under"):
                self.add_error(f"cond{i}_op", _("A size is compared with “is over” or “is under”."))
            elif field != "size" and op in ("over", "under"):
                self.add_error(f"cond{i}_op", _("“is over” and “is under” are for sizes only."))
            if not value.strip():
                self.add_error(f"cond{i}_value", _("Give a value to compare with."))
        actions = [data.get(f"act{i}_type") for i in range(ACTION_ROWS)]
        if not any(actions):
            self.add_error("act0_type", _("Choose at least one action."))
        for i, action in enumerate(actions):
            if action in ("fileinto", "redirect", "redirect_copy") and not data.get(f"act{i}_value", "").strip():
                self.add_error(f"act{i}_value", _("This action needs a folder or an address."))
        return data

    def rule(self) -> Rule:
        data = self.cleaned_data
        return Rule(
            name=data["name"],
            match=data["match"],
            conditions=[
                Condition(field=data[f"cond{i}_field"], op=data[f"cond{i}_op"], value=data[f"cond{i}_value"].strip())
                for i in range(CONDITION_ROWS)
                if data.get(f"cond{i}_field")
            ],
            actions=[
                Action(type=data[f"act{i}_type"], value=data.get(f"act{i}_value", "").strip())
                for i in range(ACTION_ROWS)
                if data.get(f"act{i}_type")
            ],
        )

    @staticmethod
    def initial_for(rule: Rule) -> dict[str, Any]:
        initial: dict[str, Any] = {"name": rule.name, "match": rule.match}
        for i, condition in enumerate(rule.conditions[:CONDITION_ROWS]):
            initial |= {
                f"cond{i}_field": condition.field,
                f"cond{i}_op": condition.op,
                f"cond{i}_value": condition.value,
            }
        for i, action in enumerate(rule.actions[:ACTION_ROWS]):
            initial |= {f"act{i}_type": action.type, f"act{i}_value": action.value}
        return initial
