"""Plain-text mail to HTML: escaped, links made clickable, quoted text folded, format=flowed joined.

RFC 3676 (format=flowed): soft line breaks are joined before display, so quoted flowed text
reflows on a phone. Quoted blocks (lines starting with ">") longer than a few lines fold into a
<details> element the reader can open.
"""

from __future__ import annotations

import re
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

QUOTE_FOLD_LINES = 4  # quoted blocks with more lines than this start folded
_LINK = re.compile(
    r"(?P<url>(?<![A-Za-z0-9])(?:https?://|www\.)[^\s<>\"'\u3000-\u303f\uff01-\uff5e]+)"
    r"|(?P<mail>\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b)"
)
_TRAILING_PUNCTUATION = ".,;:!?)]}>"


def flowed_join(text: str, *, delsp: bool = False) -> str:
    """Undo RFC 3676 soft line breaks (a line ending in a space continues on the next)."""
    lines: list[str] = []
    buffer = ""
    quote_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing
            content = content[1:]
        if buffer and depth != quote_depth:
            lines.append(">" * quote_depth + (" " if quote_depth else "") + buffer)
            buffer = ""
        quote_depth = depth
        if content.endswith(" ") and content != "-- ":
            buffer += content[:-1] if delsp else content
            continue
        lines.append(">" * depth + (" " if depth else "") + buffer + content)
        buffer = ""
    if buffer:
        lines.append(">" * quote_depth + (" " if quote_depth else "") + buffer)
    return "\n".join(lines)


def _linkify_line(line: str) -> str:
    out: list[str] = []
    position = 0
    for match in _LINK.finditer(line):
        out.append(escape(line[position : match.start()]))
        token = match.group(0)
        trailing = ""
        while token and token[-1] in _TRAILING_PUNCTUATION:
            trailing = token[-1] + trailing
            token = token[:-1]
        if match.group("mail"):
            href = f"mailto:{token}"
        else:
            href = token if token.lower().startswith("http") else f"http://{token}"
        out.append(f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer nofollow">{escape(token)}</a>')
        out.append(escape(trailing))
        position = match.end()
    out.append(escape(line[position:]))
    return "".join(out)


def text_to_html(text: str, *, flowed: bool = False, delsp: bool = False) -> SafeString:
    """Render plain text as safe HTML (a <div class="plain"> of lines and folded quotes)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if flowed:
        text = flowed_join(text, delsp=delsp)
    blocks: list[tuple[bool, list[str]]] = []
    for line in text.split("\n"):
        quoted = line.startswith(">")
        if blocks and blocks[-1][0] == quoted:
            blocks[-1][1].append(line)
        else:
            blocks.append((quoted, [line]))
    html_parts = []
    for quoted, lines in blocks:
        body = "\n".join(_linkify_line(line) for line in lines)
        if not quoted:
            html_parts.append(body)
        elif len(lines) > QUOTE_FOLD_LINES:
            summary = escape(_("Show quoted text (%(count)d lines)") % {"count": len(lines)})
            html_parts.append(
                f'<details class="quote"><summary>{summary}</summary><blockquote>{body}</blockquote></details>'
            )
        else:
            html_parts.append(f'<blockquote class="quote">{body}</blockquote>')
    return mark_safe('<div class="plain">' + "\n".join(html_parts) + "</div>")  # noqa: S308  # every piece escaped
