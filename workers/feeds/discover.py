"""Find a site's feeds: ``<link rel="alternate">`` tags of its home page and the
``Sitemap:`` lines of its robots.txt.

    feeds = await discover_feeds(fetcher, "https://site.example/")

Both documents are fetched through the fetch stage (same SSRF, robots and
size rules as everything else); one that cannot be fetched contributes
nothing.  A URL that is itself a feed is returned as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from workers.errors import NewswireError
from workers.pipeline.charset import decode_html
from workers.pipeline.fetch import Fetcher
from workers.pipeline.urls import canonicalize_url

from .fetch import fetch_feed
from .parse import parse_feed

__all__ = ["FEED_LINK_TYPES", "DiscoveredFeed", "discover_feeds", "feed_links", "robots_sitemaps"]

FEED_LINK_TYPES = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/x.atom+xml": "atom",
    "application/x-atom+xml": "atom",
}


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    url: str  # canonical
    kind: str  # rss, atom, sitemap
    title: str | None = None
    found_in: str = ""  # "link", "robots.txt" or "url"


def _canonical(href: str | None, base_url: str) -> str | None:
    if not href:
        return None
    try:
        return canonicalize_url(urljoin(base_url, href.strip()))
    except NewswireError:
        return None


def feed_links(html: bytes | str, base_url: str) -> list[DiscoveredFeed]:
    """The feeds an HTML page advertises with ``<link rel="alternate" type="...">``."""
    text = html if isinstance(html, str) else decode_html(html, None)[0]
    if not text.strip():
        return []
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return []
    base = doc.find(".//base[@href]")
    if base is not None:
        base_url = urljoin(base_url, base.get("href", ""))
    found: dict[str, DiscoveredFeed] = {}
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = FEED_LINK_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rels or kind is None:
            continue
        url = _canonical(link.get("href"), base_url)
        if url and url not in found:
            found[url] = DiscoveredFeed(url=url, kind=kind, title=(link.get("title") or "").strip() or None,
                                        found_in="link")
    return list(found.values())


def robots_sitemaps(robots_txt: str, base_url: str) -> list[DiscoveredFeed]:
    """The ``Sitemap:`` lines of a robots.txt (they apply to the whole file, any group)."""
    found: dict[str, DiscoveredFeed] = {}
    for line in robots_txt.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() != "sitemap":
            continue
        url = _canonical(value.split("#", 1)[0], base_url)
        if url and url not in found:
            found[url] = DiscoveredFeed(url=url, kind="sitemap", found_in="robots.txt")
    return list(found.values())


async def discover_feeds(fetcher: Fetcher, site_url: str) -> list[DiscoveredFeed]:
    """The feeds of the site at ``site_url``: its home page's feed links, then its robots.txt sitemaps."""
    found: dict[str, DiscoveredFeed] = {}
    try:
        page = await fetch_feed(fetcher, site_url)
    except NewswireError:
        page = None
    if page is not None and page.body:
        if "html" in page.content_type or not page.content_type:
            for feed in feed_links(page.body, page.final_url):
                found.setdefault(feed.url, feed)
        else:
            try:  # the URL given is a feed itself
                parsed = parse_feed(page.body, base_url=page.final_url, content_type=page.content_type)
            except NewswireError:
                parsed = None
            if parsed is not None:
                kind = "sitemap" if parsed.format in ("sitemap", "sitemapindex") else "auto"
                url = canonicalize_url(page.final_url)
                found[url] = DiscoveredFeed(url=url, kind=kind, title=parsed.title, found_in="url")
    robots_url = urljoin(site_url, "/robots.txt")
    try:
        robots = await fetch_feed(fetcher, robots_url)
    except NewswireError:
        robots = None
    if robots is not None and robots.body:
        for feed in robots_sitemaps(robots.body.decode("utf-8", "replace"), robots.final_url):
            found.setdefault(feed.url, feed)
    return list(found.values())
