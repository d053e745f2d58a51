"""Repeated-headline variants of a page, the way news templates repeat it.

Each variant injects the page's own headline (defined generically by
``page_headline``) into the raw HTML:

* ``sticky``: a sticky bar at the top of <body> (``<div class="sticky-title">``)
* ``h2``:     an ``<h2>`` in the middle of the article, before the middle one of
              the article's long paragraphs
* ``readmore``: a "Read more: <headline>" link line right after the article's
              last long paragraph
  (the article's paragraphs are the page's <p> whose text is in the ground truth)
* ``all``:    the three at once
* ``sep-<name>``: a heading bar at the top of the article with the headline and
              the site's name joined by one separator (``»``, ``·``, ``:``,
              ``/``, ``::``), the way <title> tags and sticky bars write it
* ``breadcrumb``: a breadcrumb line (Home » Section » Subsection » headline)
              before the article
* ``triple``: the headline three times in the body (sticky bar, mid-article
              <h2>, a "Read more" line) with different separators/site suffixes

The article's true text does not change, so the ground truth stays valid.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

from lxml import etree
from lxml import html as lxml_html

__all__ = ["VARIANTS", "make_variant", "page_headline"]

_TITLE_SEPARATORS = re.compile(r"\s+(?:[|–—·•»]|-{1,2}|::)\s+")
_LONG_PARAGRAPH = 120  # characters


def _key(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def _without_site(text: str, site: str | None) -> str:
    """Drop the separator-delimited parts of a title that are the site's name."""
    parts = _TITLE_SEPARATORS.split(text)
    if site and len(parts) > 1:
        kept = [p for p in parts if _key(p) != _key(site)]
        if kept and len(kept) < len(parts):
            return " - ".join(kept)
    return text


def page_headline(raw_html: str) -> str | None:
    """The page's headline, independent of the extractor under test:
    og:title (minus og:site_name), else twitter:title, else the first <h1>,
    else the longest part of <title>."""
    try:
        tree = lxml_html.fromstring(raw_html)
    except (ValueError, etree.ParserError):
        return None
    sites = tree.xpath('//meta[@property="og:site_name"]/@content')
    site = " ".join(sites[0].split()) if sites else None
    for prop in ("og:title", "twitter:title"):
        for meta in tree.xpath(f'//meta[@property="{prop}" or @name="{prop}"]/@content'):
            text = " ".join(meta.split())
            if text:
                return _without_site(text, site)
    for h1 in tree.iter("h1"):
        text = " ".join(h1.text_content().split())
        if text:
            return text
    title = tree.find(".//title")
    if title is not None:
        text = " ".join(title.text_content().split())
        if text:
            return max(_TITLE_SEPARATORS.split(text), key=len)
    return None


def _long_paragraph_positions(raw_html: str, truth: str | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of <p ...>...</p> elements with long text, in page order.

    With the true article text, only paragraphs of the article count, so that
    "mid-article" and "after the body" really are inside / right after it (the
    last long paragraph of a page is often an author bio or a footer)."""
    truth_key = f" {_key(html_lib.unescape(truth))} " if truth else ""
    spans = []
    for m in re.finditer(r"<p[\s>].*?</p\s*>", raw_html, flags=re.IGNORECASE | re.DOTALL):
        text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(0))).split())
        if len(text) < _LONG_PARAGRAPH:
            continue
        if truth_key and f" {_key(text)} " not in truth_key:
            continue
        spans.append((m.start(), m.end()))
    if truth_key and not spans:
        return _long_paragraph_positions(raw_html)
    return spans


def _inject_sticky(raw: str, headline: str, truth: str | None = None) -> str:
    bar = f'<div class="sticky-title" aria-hidden="true"><span>{html_lib.escape(headline)}</span></div>'
    m = re.search(r"<body[^>]*>", raw, flags=re.IGNORECASE)
    return raw[: m.end()] + bar + raw[m.end() :] if m else bar + raw


def _inject_h2(raw: str, headline: str, truth: str | None = None) -> str:
    spans = _long_paragraph_positions(raw, truth)
    if not spans:
        return raw
    start, _ = spans[len(spans) // 2]
    return raw[:start] + f"<h2>{html_lib.escape(headline)}</h2>" + raw[start:]


def _inject_readmore(raw: str, headline: str, truth: str | None = None) -> str:
    spans = _long_paragraph_positions(raw, truth)
    if not spans:
        return raw
    _, end = spans[-1]
    line = f'<p><strong>Read more:</strong> <a href="/read-more/">{html_lib.escape(headline)}</a></p>'
    return raw[:end] + line + raw[end:]


_SITE = "The Daily Courier"


def _inject_separated(separator: str) -> Callable[[str, str, str | None], str]:
    def inject(raw: str, headline: str, truth: str | None = None) -> str:
        joined = f"{headline} {separator} {_SITE}" if separator != ":" else f"{headline}: {_SITE}"
        bar = f'<div class="title-bar"><span>{html_lib.escape(joined)}</span></div>'
        spans = _long_paragraph_positions(raw, truth)
        if not spans:
            return raw
        start, _ = spans[0]
        return raw[:start] + bar + raw[start:]

    return inject


def _inject_breadcrumb(raw: str, headline: str, truth: str | None = None) -> str:
    crumbs = " » ".join(
        f'<a href="/{i}/">{html_lib.escape(part)}</a>' for i, part in enumerate(("Home", "News", "World"))
    )
    line = f'<p class="breadcrumb">{crumbs} » <span>{html_lib.escape(headline)}</span></p>'
    spans = _long_paragraph_positions(raw, truth)
    if not spans:
        return raw
    start, _ = spans[0]
    return raw[:start] + line + raw[start:]


def _inject_triple(raw: str, headline: str, truth: str | None = None) -> str:
    spans = _long_paragraph_positions(raw, truth)
    if not spans:
        return raw
    _, end = spans[-1]
    raw = raw[:end] + f"<p>Read more » {html_lib.escape(headline)} · {_SITE}</p>" + raw[end:]
    spans = _long_paragraph_positions(raw, truth)
    start, _ = spans[len(spans) // 2]
    raw = raw[:start] + f"<h2>{html_lib.escape(headline)} :: {_SITE}</h2>" + raw[start:]
    return _inject_sticky(raw, f"{headline} / {_SITE}", truth)


def _inject_all(raw: str, headline: str, truth: str | None = None) -> str:
    return _inject_sticky(_inject_h2(_inject_readmore(raw, headline, truth), headline, truth), headline, truth)


VARIANTS: dict[str, Callable[[str, str, str | None], str]] = {
    "sticky": _inject_sticky,
    "h2": _inject_h2,
    "readmore": _inject_readmore,
    "all": _inject_all,
    **{f"sep-{name}": _inject_separated(sep) for name, sep in (
        ("guillemet", "»"), ("middot", "·"), ("colon", ":"), ("slash", "/"), ("double-colon", "::"))},
    "breadcrumb": _inject_breadcrumb,
    "triple": _inject_triple,
}


def make_variant(kind: str, raw_html: str, headline: str | None, truth: str | None = None) -> str:
    """The page with its headline injected; ``truth`` (the true article text) places
    the mid-article and after-the-body injections inside the article."""
    if not headline:
        return raw_html
    return VARIANTS[kind](raw_html, headline, truth)
