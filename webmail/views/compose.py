"""Writing: compose, reply, reply-all, forward (inline or attached), drafts, attachments.

Sending goes to our submission server with the session's token; the sent copy is appended to
Sent, drafts to Drafts with \\Draft (RFC 3501 APPEND, RFC 4315 APPENDUID to replace them).
"""

from __future__ import annotations

import html
import re
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any
from urllib.parse import quote

import nh3
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from imapclient.exceptions import IMAPClientError

from store.selectors import account_addresses, account_by_address
from webmail.imap.folders import folders_invalidate, folders_list, special_folder
from webmail.imap.messages import append, flags_change, message_load, messages_expunge, sections_fetch
from webmail.mime.compose import (
    Attachment,
    HeaderInjection,
    InvalidAddress,
    Outgoing,
    envelope_recipients,
    message_build,
    message_bytes,
    recipients_parse,
)
from webmail.mime.headers import Mailbox
from webmail.mime.structure import display_parts
from webmail.mime.transfer import part_text, transfer_decode
from webmail.preferences import contacts_complete, contacts_record
from webmail.submit import SubmissionFailed, message_submit
from webmail.uploads import UploadTooLarge, upload_delete, upload_get, upload_meta, upload_store
from webmail.views.base import digits, imap, prefs, session_address, session_token, webmail_view
from webmail.views.message import _headers

REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|返信)\s*[:：]\s*", re.IGNORECASE)
FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|転送)\s*[:：]\s*", re.IGNORECASE)


def _sender_addresses(request: HttpRequest) -> list[str]:
    account = account_by_address(session_address(request))
    return account_addresses(account) if account is not None else [session_address(request)]


def _display_name(request: HttpRequest) -> str:
    name = prefs(request).display_name
    if name:
        return name
    account = account_by_address(session_address(request))
    return account.display_name if account is not None else ""


def _quote(text: str) -> str:
    return "\n".join("> " + line if not line.startswith(">") else ">" + line for line in text.splitlines())


def _format_list(mailboxes: list[Mailbox]) -> str:
    return ", ".join(str(mailbox) for mailbox in mailboxes)


def _original_text(connection, folder: str, uid: int, structure) -> str:  # type: ignore[no-untyped-def]
    display = display_parts(structure)
    part = display.text or display.html
    if part is None:
        return ""
    raw = sections_fetch(connection, folder, uid, [part.section])[part.section]
    text = part_text(raw, part.encoding, part.charset)
    if part is display.html and display.text is None:
        text = html.unescape(nh3.clean(re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text), tags=set()))
    return text.strip("\n")


def _copy_attachments(connection, token: str, folder: str, uid: int, structure) -> list[dict]:  # type: ignore[no-untyped-def]
    parts = [p for p in display_parts(structure).attachments if not p.is_multipart]
    if not parts:
        return []
    raw = sections_fetch(connection, folder, uid, [p.section for p in parts])
    copied = []
    for part in parts:
        data = transfer_decode(raw.get(part.section, b""), part.encoding)
        name = part.filename or f"part-{part.section}"
        try:
            copied.append(upload_store(token, name, part.content_type, [data]).as_json())
        except UploadTooLarge:
            continue
    return copied


def _prefill(request: HttpRequest, connection, mode: str, folder: str, uid: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    loaded = message_load(connection, folder, uid)
    if loaded is None:
        return {}
    headers = _headers(loaded.header_bytes)
    own = {address.lower() for address in _sender_addresses(request)}
    data: dict[str, Any] = {}
    subject = headers["subject"]
    if mode == "draft":
        parsed = BytesParser(policy=default_policy).parsebytes(loaded.header_bytes, headersonly=True)
        data.update(
            to=_format_list(headers["to"]),
            cc=_format_list(headers["cc"]),
            bcc=str(parsed.get("Bcc", "") or ""),
            subject=subject,
            body=_original_text(connection, folder, uid, loaded.structure),
            draft_uid=uid,
            in_reply_to=str(parsed.get("In-Reply-To", "") or ""),
            references=str(parsed.get("References", "") or ""),
            attachments=_copy_attachments(connection, session_token(request), folder, uid, loaded.structure),
        )
        sender = headers["from"][0].address.lower() if headers["from"] else ""
        if sender in own:
            data["from_address"] = sender
        return data
    when = formats.date_format(headers["date"], "DATETIME_FORMAT") if headers["date"] else ""
    author = _format_list(headers["from"])
    original = _original_text(connection, folder, uid, loaded.structure)
    if mode in ("reply", "all"):
        recipients = headers["reply_to"] or headers["from"]
        data["to"] = _format_list(recipients)
        if mode == "all":
            seen = {m.address.lower() for m in recipients} | own
            others = [m for m in headers["to"] + headers["cc"] if m.address.lower() not in seen]
            data["cc"] = _format_list(others)
        data["subject"] = subject if REPLY_PREFIX.match(subject) else f"Re: {subject}"
        intro = _("On %(date)s, %(author)s wrote:") % {"date": when, "author": author}
        data["quote"] = f"{intro}\n{_quote(original)}"
        data["in_reply_to"] = headers["message_id"]
        data["references"] = " ".join(filter(None, [headers["references"], headers["message_id"]]))[-4000:]
        data["reply_uid"], data["reply_folder"] = uid, folder
    elif mode in ("forward", "attach"):
        data["subject"] = subject if FORWARD_PREFIX.match(subject) else f"Fwd: {subject}"
        if mode == "forward":
            block = [
                _("---------- Forwarded message ----------"),
                _("From: %(value)s") % {"value": author},
                _("Date: %(value)s") % {"value": when},
                _("Subject: %(value)s") % {"value": subject},
                _("To: %(value)s") % {"value": _format_list(headers["to"])},
                "",
                original,
            ]
            data["quote"] = "\n".join(block)
            data["attachments"] = _copy_attachments(connection, session_token(request), folder, uid, loaded.structure)
        else:
            data["forward_uid"], data["forward_folder"] = uid, folder
    # the sender address this message came to, when it is one of ours
    for mailbox in headers["to"] + headers["cc"]:
        if mailbox.address.lower() in own:
            data["from_address"] = mailbox.address.lower()
            break
    return data


@webmail_view
def compose(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _compose_post(request)
    preferences = prefs(request)
    mode = request.GET.get("mode", "new")
    data: dict[str, Any] = {"to": request.GET.get("to", "")[:1000]}
    with imap(request) as connection:
        folders = folders_list(connection)
        if mode in ("reply", "all", "forward", "attach", "draft") and digits(request.GET.get("uid", "")):
            data.update(_prefill(request, connection, mode, request.GET.get("f", "INBOX"), int(request.GET["uid"])))
    body = data.get("body", "")
    if mode != "draft":
        signature = f"\n\n-- \n{preferences.signature}" if preferences.signature else ""
        quoted = data.get("quote", "")
        body = "\n\n" + signature.lstrip("\n") + ("\n\n" + quoted if quoted else "") if signature or quoted else ""
    context = {
        "folders": folders,
        "data": data,
        "body": body,
        "addresses": _sender_addresses(request),
        "from_address": data.get("from_address", session_address(request)),
        "limit": settings.YUBIN_WEBMAIL_ATTACHMENT_LIMIT,
        "compose_html": preferences.compose_html,
        "mode": mode,
    }
    return render(request, "webmail/compose.html", context)


def _outgoing(request: HttpRequest) -> tuple[Outgoing, list[str]]:
    post = request.POST
    from_address = post.get("from_address", "")
    allowed = {a.lower(): a for a in _sender_addresses(request)}
    if from_address.lower() not in allowed:
        raise InvalidAddress(from_address)
    token = session_token(request)
    attachments = []
    used_ids = []
    total = 0
    for upload_id in post.getlist("attachment"):
        stored = upload_get(token, upload_id)
        if stored is None:
            continue
        meta, data = stored
        total += len(data)
        if total > settings.YUBIN_WEBMAIL_ATTACHMENT_LIMIT:
            raise UploadTooLarge(meta.filename)
        attachments.append(Attachment(filename=meta.filename, content_type=meta.content_type, data=data))
        used_ids.append(upload_id)
    html_body = post.get("html_body", "") if post.get("format") == "html" else ""
    outgoing = Outgoing(
        from_address=allowed[from_address.lower()],
        from_name=_display_name(request),
        to=post.get("to", ""),
        cc=post.get("cc", ""),
        bcc=post.get("bcc", ""),
        subject=post.get("subject", ""),
        text=post.get("body", ""),
        html=html_body,
        attachments=attachments,
        in_reply_to=post.get("in_reply_to", ""),
        references=post.get("references", ""),
    )
    return outgoing, used_ids


def _compose_error(request: HttpRequest, message: str) -> HttpResponse:
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"error": message}, status=400)
    with imap(request) as connection:
        folders = folders_list(connection)
    data: dict[str, Any] = {
        key: request.POST.get(key, "")
        for key in (
            "to",
            "cc",
            "bcc",
            "subject",
            "in_reply_to",
            "references",
            "draft_uid",
            "reply_uid",
            "reply_folder",
            "forward_uid",
            "forward_folder",
        )
    }
    data["attachments"] = [
        m.as_json() for m in (upload_meta(session_token(request), i) for i in request.POST.getlist("attachment")) if m
    ]
    context = {
        "folders": folders,
        "data": data,
        "body": request.POST.get("body", ""),
        "addresses": _sender_addresses(request),
        "from_address": request.POST.get("from_address", ""),
        "limit": settings.YUBIN_WEBMAIL_ATTACHMENT_LIMIT,
        "compose_html": request.POST.get("format") == "html",
        "error": message,
    }
    return render(request, "webmail/compose.html", context, status=400)


def _input_error(error: Exception) -> str:
    if isinstance(error, HeaderInjection):
        return _("Line breaks are not allowed in the %(field)s field.") % {"field": str(error)}
    if isinstance(error, InvalidAddress):
        return _("This is not a valid address: %(address)s") % {"address": str(error)}
    if isinstance(error, UploadTooLarge):
        return _("The attachments are larger than the limit.")
    return str(error)


def _compose_post(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "send")
    try:
        outgoing, used_ids = _outgoing(request)
        if action == "save":
            return _draft_save(request, outgoing)
        recipients = envelope_recipients(outgoing)
        if not recipients:
            return _compose_error(request, _("Add at least one recipient."))
        with imap(request) as connection:
            if digits(request.POST.get("forward_uid", "")):
                raw = sections_fetch(
                    connection, request.POST.get("forward_folder", "INBOX"), int(request.POST["forward_uid"]), [""]
                )[""]
                if raw:
                    outgoing.forwarded.append(raw)
            message = message_build(outgoing, hostname=settings.YUBIN_HOSTNAME, draft=True)
            sent_copy = message_bytes(message)
            del message["Bcc"]
            message_submit(
                address=session_address(request),
                token=session_token(request),
                sender=outgoing.from_address,
                recipients=recipients,
                raw=message_bytes(message),
            )
            _after_send(request, connection, sent_copy)
    except (HeaderInjection, InvalidAddress, UploadTooLarge) as error:
        return _compose_error(request, _input_error(error))
    except SubmissionFailed as error:
        return _compose_error(request, _("The message was not sent. The server said: %(reason)s") % {"reason": error})
    for upload_id in used_ids:
        upload_delete(session_token(request), upload_id)
    contacts_record(
        session_address(request),
        [
            (a.display_name, a.addr_spec)
            for field in ("to", "cc", "bcc")
            for a in recipients_parse(getattr(outgoing, field))
        ],
    )
    messages.success(request, _("Message sent."))
    return redirect(reverse("webmail:mailbox"))


def _after_send(request: HttpRequest, connection, sent_copy: bytes) -> None:  # type: ignore[no-untyped-def]
    """Keep the sent copy, mark the replied message, drop the draft (each best effort)."""
    try:
        append(connection, special_folder(connection, "\\Sent"), sent_copy, ["\\Seen"])
        if digits(request.POST.get("reply_uid", "")):
            flags_change(
                connection,
                request.POST.get("reply_folder", "INBOX"),
                [int(request.POST["reply_uid"])],
                "\\Answered",
                True,
            )
        if digits(request.POST.get("draft_uid", "")):
            messages_expunge(connection, special_folder(connection, "\\Drafts"), [int(request.POST["draft_uid"])])
    except IMAPClientError as error:
        messages.warning(request, _("Sent, but the copy could not be saved: %(reason)s") % {"reason": error})
    connection.forget()
    folders_invalidate(connection)


def _draft_save(request: HttpRequest, outgoing: Outgoing) -> HttpResponse:
    message = message_build(outgoing, hostname=settings.YUBIN_HOSTNAME, draft=True)
    with imap(request) as connection:
        drafts = special_folder(connection, "\\Drafts")
        uid = append(connection, drafts, message_bytes(message), ["\\Draft", "\\Seen"])
        old = request.POST.get("draft_uid", "")
        if digits(old) and int(old) != uid:
            messages_expunge(connection, drafts, [int(old)])
        folders_invalidate(connection)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"draft_uid": uid, "saved": True})
    messages.success(request, _("Draft saved."))
    return redirect(reverse("webmail:mailbox") + f"?f={quote(drafts)}")


@require_POST
@webmail_view
def upload(request: HttpRequest) -> HttpResponse:
    files = request.FILES.getlist("file")
    if not files:
        return JsonResponse({"error": _("No file was received.")}, status=400)
    stored = []
    try:
        for uploaded in files:
            stored.append(
                upload_store(
                    session_token(request), uploaded.name or "", uploaded.content_type or "", uploaded.chunks()
                ).as_json()
            )
    except UploadTooLarge:
        return JsonResponse({"error": _("The file is larger than the limit.")}, status=413)
    return JsonResponse({"files": stored})


@webmail_view
def contacts(request: HttpRequest) -> HttpResponse:
    found = contacts_complete(session_address(request), request.GET.get("q", "")[:100])
    return JsonResponse({"contacts": [{"name": c.name, "address": c.address} for c in found]})
