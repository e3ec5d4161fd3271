"""HTML mail sanitiser: nh3 (ammonia) with an allow-list, remote content blocked by default.

The output is shown in a sandboxed iframe (no scripts, no same origin) served under its own
strict Content-Security-Policy (see `body_csp`), so the sanitiser and the browser each stop
what the other might miss. Inline `cid:` images are replaced by data: URLs of the fetched parts;
remote images are dropped unless the user allowed remote content for this message or sender.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

ALLOWED_TAGS = (nh3.ALLOWED_TAGS | {"font", "tfoot", "big", "center"}) - {"map", "area"}
# Tags whose content is dropped with them (their text is not mail content).
DROPPED_CONTENT_TAGS = {"script", "style", "title", "head", "noscript", "template", "object", "embed", "iframe"}
GENERIC_ATTRIBUTES = {"style", "dir", "lang", "title", "align", "valign", "width", "height", "bgcolor"}
TAG_ATTRIBUTES = {
    "a": {"href", "hreflang", "name"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "col": {"span"},
    "colgroup": {"span"},
    "hr": {"size", "noshade"},
    "blockquote": {"cite"},
    "time": {"datetime"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}
# CSS properties kept in style attributes: layout and typography; nothing that loads a URL
# (background-image, list-style-image, content, cursor) or escapes the box (position).
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "font-variant", "text-align", "text-decoration", "text-indent", "text-transform", "line-height",
    "letter-spacing", "word-spacing", "white-space", "vertical-align", "direction",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
    "width", "max-width", "min-width", "height", "max-height", "min-height",
    "display", "float", "clear", "list-style-type", "table-layout", "overflow", "word-break",
}  # fmt: skip
_DANGEROUS_CSS = re.compile(r"url\s*\(|expression\s*\(|@import|javascript:|behavior\s*:|-moz-binding", re.IGNORECASE)
_RASTER_DATA_URL = re.compile(r"^data:image/(png|gif|jpeg|webp|bmp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


@dataclass
class SanitizedHtml:
    html: str
    blocked_remote: int  # remote images removed because remote content was not allowed
    cid_used: set[str]


def html_sanitize(
    html: str,
    *,
    allow_remote: bool = False,
    cid_resolver: Callable[[str], str | None] | None = None,
) -> SanitizedHtml:
    """Clean HTML mail. `cid_resolver(content_id)` returns a data: URL for an inline image."""
    blocked = 0
    cid_used: set[str] = set()

    def attribute_filter(element: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute == "style":
            return None if _DANGEROUS_CSS.search(value) else value
        if attribute == "href":
            return value if value.lower().startswith(("http:", "https:", "mailto:")) else None
        if attribute != "src":
            return value
        lowered = value.strip().lower()
        if element != "img":
            return None
        if lowered.startswith("cid:"):
            content_id = value.strip()[4:].strip("<>")
            resolved = cid_resolver(content_id) if cid_resolver else None
            if resolved:
                cid_used.add(content_id)
            return resolved
        if lowered.startswith("data:"):
            return value if _RASTER_DATA_URL.match(value.strip()) else None
        if lowered.startswith(("http:", "https:")):
            if allow_remote:
                return value
            blocked += 1
            return None
        return None

    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_CONTENT_TAGS,
        attributes={"*": GENERIC_ATTRIBUTES, **TAG_ATTRIBUTES},
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=URL_SCHEMES,
        filter_style_properties=STYLE_PROPERTIES,
        url_relative="deny",
    )
    return SanitizedHtml(html=cleaned, blocked_remote=blocked, cid_used=cid_used)


def body_csp(*, allow_remote: bool) -> str:
    """The Content-Security-Policy of the framed message body: nothing runs, nothing remote."""
    images = "data: http: https:" if allow_remote else "data:"
    return (
        "default-src 'none'; "
        f"img-src {images}; "
        "style-src 'unsafe-inline'; "
        "font-src 'none'; media-src 'none'; object-src 'none'; script-src 'none'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )
