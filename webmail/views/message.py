"""Reading one message: headers, text or sanitised HTML (framed), attachments, source.

The HTML body is served by `message_body` as its own document under a strict CSP and shown in
an iframe with `sandbox` (no scripts, no same origin); remote images only on request, or for
senders the user trusts. Attachments always download (`Content-Disposition: attachment`,
`nosniff`).
"""

from __future__ import annotations

import base64
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webmail.imap.folders import folders_list
from webmail.imap.messages import flags_change, message_load, sections_fetch, summaries_by_uid, thread_uids
from webmail.mime.charset import guess_text
from webmail.mime.headers import address_list, header_date, header_text
from webmail.mime.structure import Part, display_parts
from webmail.mime.transfer import part_text, transfer_decode
from webmail.preferences import contacts_record, remote_content_trust
from webmail.render.plaintext import text_to_html
from webmail.render.sanitize import body_csp, html_sanitize
from webmail.views.base import digits, imap, prefs, session_address, webmail_view
from webmail.views.mailbox import find_folder, folder_param

INLINE_IMAGE_LIMIT = 5 * 1024 * 1024  # total bytes of cid: images inlined as data: URLs
INLINE_IMAGE_TYPES = {"image/png", "image/gif", "image/jpeg", "image/webp", "image/bmp"}
SAFE_DOWNLOAD_TYPES = {"application/pdf", "image/png", "image/gif", "image/jpeg", "image/webp", "text/plain",
                       "text/csv", "application/zip"}  # fmt: skip


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 filename* (RFC 5987)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _headers(raw: bytes) -> dict:
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return {
        "subject": header_text(parsed.get("Subject")),
        "from": address_list(parsed.get("From")),
        "to": address_list(", ".join(parsed.get_all("To") or [])),
        "cc": address_list(", ".join(parsed.get_all("Cc") or [])),
        "reply_to": address_list(parsed.get("Reply-To")),
        "date": header_date(parsed.get("Date")),
        "message_id": (parsed.get("Message-ID") or "").strip(),
        "references": " ".join((parsed.get("References") or "").split()),
        "list_unsubscribe": header_text(parsed.get("List-Unsubscribe")),
    }


def _uid(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404 from None


def trusted_sender(request: HttpRequest, senders: list) -> bool:
    trusted = set(prefs(request).remote_content_senders)
    return any(mailbox.address.lower() in trusted for mailbox in senders)


@webmail_view
def message_view(request: HttpRequest, uid: str) -> HttpResponse:
    folder_name = folder_param(request)
    number = _uid(uid)
    with imap(request) as connection:
        folders = folders_list(connection)
        folder = find_folder(folders, folder_name)
        if folder is None:
            raise Http404
        loaded = message_load(connection, folder.name, number)
        if loaded is None:
            return render(
                request,
                "webmail/error.html",
                {"message": _("This message no longer exists."), "folders": folders},
                status=404,
            )
        display = display_parts(loaded.structure)
        text_html = None
        blocked = 0
        if display.text is not None:
            raw = sections_fetch(connection, folder.name, number, [display.text.section])[display.text.section]
            text = part_text(raw, display.text.encoding, display.text.charset)
            flowed = display.text.params.get("format", "").lower() == "flowed"
            text_html = text_to_html(text, flowed=flowed, delsp=display.text.params.get("delsp", "").lower() == "yes")
        headers = _headers(loaded.header_bytes)
        allow_remote = request.GET.get("remote") == "1" or trusted_sender(request, headers["from"])
        if display.html is not None:
            raw = sections_fetch(connection, folder.name, number, [display.html.section])[display.html.section]
            blocked = html_sanitize(
                part_text(raw, display.html.encoding, display.html.charset), allow_remote=allow_remote
            ).blocked_remote
        if "\\Seen" not in loaded.flags:
            flags_change(connection, folder.name, [number], "\\Seen", True)
        conversation = []
        if prefs(request).threads:
            uids = thread_uids(connection, folder.name, number)
            if len(uids) > 1:
                conversation = summaries_by_uid(connection, uids)
    contacts_record(session_address(request), [(m.name, m.address) for m in headers["from"]])
    prefer_html = display.html is not None and (request.GET.get("view") != "text" or display.text is None)
    context = {
        "folders": folders,
        "folder": folder,
        "uid": number,
        "message": loaded,
        "headers": headers,
        "text_html": text_html,
        "show_html": prefer_html,
        "has_text": display.text is not None,
        "blocked_remote": blocked if not allow_remote else 0,
        "allow_remote": allow_remote,
        "attachments": [part for part in display.attachments if not part.is_multipart],
        "conversation": conversation,
        "flagged": "\\Flagged" in loaded.flags,
    }
    return render(request, "webmail/message.html", context)


def _inline_images(connection, folder: str, uid: int, related: dict[str, Part]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    wanted = {cid: part for cid, part in related.items() if part.content_type in INLINE_IMAGE_TYPES}
    budget = INLINE_IMAGE_LIMIT
    chosen = {}
    for cid, part in wanted.items():
        if part.size > budget:
            continue
        budget -= part.size
        chosen[cid] = part
    if not chosen:
        return {}
    raw = sections_fetch(connection, folder, uid, [part.section for part in chosen.values()])
    urls = {}
    for cid, part in chosen.items():
        data = transfer_decode(raw.get(part.section, b""), part.encoding)
        urls[cid] = f"data:{part.content_type};base64,{base64.b64encode(data).decode()}"
    return urls


@webmail_view
def message_body(request: HttpRequest, uid: str) -> HttpResponse:
    """The sanitised HTML body as a document of its own, for the sandboxed iframe."""
    folder_name = folder_param(request)
    number = _uid(uid)
    with imap(request) as connection:
        loaded = message_load(connection, folder_name, number)
        if loaded is None:
            raise Http404
        display = display_parts(loaded.structure)
        if display.html is None:
            raise Http404
        raw = sections_fetch(connection, folder_name, number, [display.html.section])[display.html.section]
        images = _inline_images(connection, folder_name, number, display.related)
    headers = _headers(loaded.header_bytes)
    allow_remote = request.GET.get("remote") == "1" or trusted_sender(request, headers["from"])
    cleaned = html_sanitize(
        part_text(raw, display.html.encoding, display.html.charset),
        allow_remote=allow_remote,
        cid_resolver=images.get,
    )
    response = render(request, "webmail/body.html", {"body": cleaned.html})
    response["Content-Security-Policy"] = body_csp(allow_remote=allow_remote)
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


@webmail_view
def message_part(request: HttpRequest, uid: str, section: str) -> HttpResponse:
    """Download one attachment."""
    folder_name = folder_param(request)
    number = _uid(uid)
    if not all(digits(piece) for piece in section.split(".")):
        raise Http404
    with imap(request) as connection:
        loaded = message_load(connection, folder_name, number)
        if loaded is None:
            raise Http404
        part = next((p for p in loaded.structure.walk() if p.section == section and not p.is_multipart), None)
        if part is None:
            raise Http404
        raw = sections_fetch(connection, folder_name, number, [section])[section]
    data = transfer_decode(raw, part.encoding) if part.content_type != "message/rfc822" else raw
    content_type = part.content_type if part.content_type in SAFE_DOWNLOAD_TYPES else "application/octet-stream"
    filename = part.filename or (
        f"message-{number}.eml" if part.content_type == "message/rfc822" else f"part-{section}"
    )
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@webmail_view
def message_raw(request: HttpRequest, uid: str) -> HttpResponse:
    """The message source as sent, as text (or as an .eml download)."""
    folder_name = folder_param(request)
    number = _uid(uid)
    with imap(request) as connection:
        raw = sections_fetch(connection, folder_name, number, [""])[""]
    if not raw:
        raise Http404
    if request.GET.get("download") == "1":
        response = HttpResponse(raw, content_type="message/rfc822")
        response["Content-Disposition"] = content_disposition(f"message-{number}.eml")
    else:
        response = HttpResponse(guess_text(raw), content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
@webmail_view
def remote_trust(request: HttpRequest, uid: str) -> HttpResponse:
    """Always show remote content from this message's sender."""
    folder_name = folder_param(request)
    number = _uid(uid)
    with imap(request) as connection:
        loaded = message_load(connection, folder_name, number)
    if loaded is not None:
        for mailbox in _headers(loaded.header_bytes)["from"]:
            remote_content_trust(session_address(request), mailbox.address)
    return redirect(reverse("webmail:message", args=[number]) + f"?f={quote(folder_name)}")
