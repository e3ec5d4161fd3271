"""Organising: actions on selected messages, and the folder management page."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webmail.imap.folders import (
    FolderNameInvalid,
    folder_create,
    folder_delete,
    folder_rename,
    folder_subscribe,
    folders_invalidate,
    folders_list,
    special_folder,
)
from webmail.imap.messages import flags_change, folder_empty, messages_copy, messages_expunge, messages_move
from webmail.views.base import digits, error_page, imap, wants_json, webmail_view
from webmail.views.mailbox import find_folder

FLAG_ACTIONS = {
    "read": ("\\Seen", True),
    "unread": ("\\Seen", False),
    "flag": ("\\Flagged", True),
    "unflag": ("\\Flagged", False),
}
MOVE_TARGETS = {"delete": "\\Trash", "junk": "\\Junk", "archive": "\\Archive"}
MAX_SELECTION = 5000


@require_POST
@webmail_view
def messages_action(request: HttpRequest) -> HttpResponse:
    folder_name = request.POST.get("f", "INBOX")
    action = request.POST.get("action", "")
    uids = [int(u) for u in request.POST.getlist("uid") if digits(u)][:MAX_SELECTION]
    back = request.POST.get("next") or reverse("webmail:mailbox") + f"?f={quote(folder_name)}"
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("webmail:mailbox")
    if not uids:
        return error_page(request, _("Select at least one message."), 400)
    with imap(request) as connection:
        folders = folders_list(connection, counts=False)
        folder = find_folder(folders, folder_name)
        if folder is None:
            return error_page(request, _("This folder does not exist."), 404)
        if action in FLAG_ACTIONS:
            flag, add = FLAG_ACTIONS[action]
            flags_change(connection, folder.name, uids, flag, add)
        elif action in MOVE_TARGETS:
            target = special_folder(connection, MOVE_TARGETS[action])
            if action == "delete" and folder.special_use in ("\\Trash", "\\Junk"):
                messages_expunge(connection, folder.name, uids)  # deleting from Trash is for good
            elif action == "junk" and folder.special_use == "\\Junk":
                target = "INBOX"  # "not junk"
                messages_move(connection, folder.name, uids, target)
            else:
                messages_move(connection, folder.name, uids, target)
        elif action in ("move", "copy"):
            target = request.POST.get("target", "")
            if find_folder(folders, target) is None:
                return error_page(request, _("This folder does not exist."), 404)
            (messages_move if action == "move" else messages_copy)(connection, folder.name, uids, target)
        else:
            return error_page(request, _("Unknown action."), 400)
        connection.forget()
        folders_invalidate(connection)
    if wants_json(request):
        return JsonResponse({"ok": True, "count": len(uids)})
    return redirect(back)


@webmail_view
def folders_manage(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        operation = request.POST.get("op", "")
        name = request.POST.get("name", "")
        try:
            with imap(request) as connection:
                if operation == "create":
                    parent = request.POST.get("parent", "")
                    folders = folders_list(connection, counts=False)
                    delimiter = next((f.delimiter for f in folders if f.delimiter), "/")
                    folder_create(connection, f"{parent}{delimiter}{name}" if parent else name)
                    messages.success(request, _("Folder created."))
                elif operation == "rename":
                    folder_rename(connection, name, request.POST.get("new_name", ""))
                    messages.success(request, _("Folder renamed."))
                elif operation == "delete":
                    folder_delete(connection, name)
                    messages.success(request, _("Folder deleted."))
                elif operation in ("subscribe", "unsubscribe"):
                    folder_subscribe(connection, name, operation == "subscribe")
                elif operation == "empty":
                    count = folder_empty(connection, name)
                    messages.success(request, _("%(count)d messages deleted for good.") % {"count": count})
                    folders_invalidate(connection)
        except FolderNameInvalid:
            messages.error(request, _("This folder name cannot be used."))
        return redirect(reverse("webmail:folders"))
    with imap(request) as connection:
        folders = folders_list(connection, fresh=True)
    return render(request, "webmail/folders.html", {"folders": folders, "folder": None})
