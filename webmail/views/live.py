"""Live updates: a long poll answered as soon as IMAP IDLE (RFC 2177) reports a change.

The browser calls /live/?f=FOLDER&state=S in a loop. The view computes the folder's state
(UIDNEXT, message and unseen counts, INBOX unseen); when it differs from S it answers at once,
otherwise it waits in IDLE on a second connection of the session for up to LIVE_WAIT_SECONDS.
Each answer ends the request, so it works the same under WSGI and ASGI.
"""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from imapclient.exceptions import IMAPClientError

from webmail.imap.pool import Connection
from webmail.views.base import imap, webmail_view

POLL_FALLBACK_SECONDS = 5  # a server without IDLE is polled
LIVE_WAIT_SECONDS = 25  # under common proxy idle timeouts (nginx proxy_read_timeout is 60 s)


def _state(connection: Connection, folder: str) -> dict:
    wanted = [b"MESSAGES", b"UNSEEN", b"UIDNEXT"]
    inbox = connection.imap.folder_status("INBOX", wanted)
    current = inbox if folder == "INBOX" else connection.imap.folder_status(folder, wanted)
    state = {
        "folder": folder,
        "messages": int(current.get(b"MESSAGES", 0)),
        "unseen": int(current.get(b"UNSEEN", 0)),
        "uidnext": int(current.get(b"UIDNEXT", 0) or 0),
        "inbox_unseen": int(inbox.get(b"UNSEEN", 0)),
    }
    state["state"] = f"{state['uidnext']}.{state['messages']}.{state['unseen']}.{state['inbox_unseen']}"
    return state


def _idle(connection: Connection, folder: str, seconds: float) -> bool:
    """IDLE in `folder`; True when the server reported something."""
    client = connection.imap
    if connection.selected != folder:
        client.select_folder(folder, readonly=True)
        connection.selected = folder
    client.idle()
    try:
        responses = client.idle_check(timeout=seconds)
    finally:
        client.idle_done()
    return bool(responses)


@webmail_view
def live(request: HttpRequest) -> HttpResponse:
    folder = request.GET.get("f", "INBOX")
    known = request.GET.get("state", "")
    try:
        with imap(request) as connection:
            state = _state(connection, folder)
        if state["state"] != known or request.GET.get("wait") == "0":
            return JsonResponse(state)
        with imap(request, slot="live") as connection:
            if connection.has("IDLE"):
                _idle(connection, folder, LIVE_WAIT_SECONDS)
            else:
                time.sleep(POLL_FALLBACK_SECONDS)
        with imap(request) as connection:
            state = _state(connection, folder)
    except IMAPClientError:
        return JsonResponse({"error": "folder"}, status=404)
    return JsonResponse(state)
