"""The folder view: folder list with counts, the message list page, filters and conversations."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from webmail.imap.folders import Folder, folders_list
from webmail.imap.messages import FILTERS, SORT_KEYS, messages_page
from webmail.views.base import error_page, imap, prefs, webmail_view


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


def folder_param(request: HttpRequest) -> str:
    return request.GET.get("f") or request.POST.get("f") or "INBOX"


def find_folder(folders: list[Folder], name: str) -> Folder | None:
    return next((folder for folder in folders if folder.name == name), None)


@webmail_view
def mailbox(request: HttpRequest) -> HttpResponse:
    preferences = prefs(request)
    folder_name = folder_param(request)
    sort = request.GET.get("sort", "arrival")
    filter_name = request.GET.get("filter", "all")
    threads = request.GET.get("threads", "1" if preferences.threads else "0") == "1"
    with imap(request) as connection:
        folders = folders_list(connection)
        folder = find_folder(folders, folder_name)
        if folder is None or not folder.selectable:
            return error_page(request, _("This folder does not exist."), 404)
        listing = messages_page(
            connection,
            folder.name,
            page=_int(request.GET.get("page"), 1),
            per_page=preferences.page_size,
            sort=sort if sort in SORT_KEYS else "arrival",
            filter_name=filter_name if filter_name in FILTERS else "all",
            threads=threads,
        )
    context = {
        "folders": folders,
        "folder": folder,
        "listing": listing,
        "sort": sort,
        "filter": filter_name,
        "threads": threads,
        "sort_choices": [
            ("arrival", _("Newest first")),
            ("date", _("Date sent")),
            ("from", _("Sender")),
            ("subject", _("Subject")),
            ("size", _("Size")),
        ],
        "filter_choices": [("all", _("All")), ("unread", _("Unread")), ("flagged", _("Flagged"))],
        "inbox_unseen": next((f.unseen for f in folders if f.special_use == "\\Inbox"), 0),
    }
    template = "webmail/_list.html" if request.GET.get("fragment") else "webmail/mailbox.html"
    return render(request, template, context)


@webmail_view
def status(request: HttpRequest) -> HttpResponse:
    """Counts for the sidebar and the title, as JSON."""
    with imap(request) as connection:
        folders = folders_list(connection, fresh=True)
    return JsonResponse(
        {"folders": [{"name": f.name, "unseen": f.unseen, "total": f.total} for f in folders if f.selectable]}
    )
