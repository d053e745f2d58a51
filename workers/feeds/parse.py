"""Parse a fetched feed document into entries: RSS 0.9x/1.0/2.0, Atom, XML sitemaps.

    parsed = parse_feed(body, base_url="https://site.example/feed.xml", content_type="application/rss+xml")
    parsed.entries     # [FeedEntry(url=<canonical>, title=..., published="2026-11-25T10:00:00Z"), ...]
    parsed.children    # child sitemaps of a sitemap index

RSS, RDF and Atom go through feedparser (which never touches the network when
given bytes); sitemaps, sitemap indexes and the Google News extension
(``news:publication_date``, ``news:title``) through lxml with entities and
network access off.  A gzip-compressed body (``sitemap.xml.gz`` served as a
file, not as a Content-Encoding) is inflated here with the same bound as any
response body.  Relative links are resolved against the document's URL and
every entry URL is canonicalised like an article URL; entries whose URL cannot
be fetched are dropped and counted.

Failures raise :class:`FeedParseError` (``feed_malformed``) or
:class:`NotAFeed` (``not_a_feed``), never anything else.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser
from feedparser.datetimes import (
    _parse_date as _feedparser_date,  # RFC 822 and the other formats feeds use
)
from lxml import etree

from workers.errors import NewswireError, TooLarge
from workers.pipeline.fetch import decompress_bounded  # the fetch stage's bomb-safe decoder
from workers.pipeline.urls import canonicalize_url

__all__ = [
    "GZIP_MAGIC",
    "ChildSitemap",
    "FeedEntry",
    "FeedParseError",
    "NotAFeed",
    "ParsedFeed",
    "normalize_date",
    "parse_feed",
]

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_BYTES = 5_000_000
_SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)[\s>/]")


class FeedParseError(NewswireError):
    """The document claims to be a feed or sitemap but cannot be parsed."""

    code = "feed_malformed"
    stage = "feed"


class NotAFeed(FeedParseError):
    """The document is not a feed or sitemap at all (e.g. an HTML page)."""

    code = "not_a_feed"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str  # canonical
    title: str | None = None
    published: str | None = None  # ISO 8601 UTC, e.g. 2026-11-25T10:00:00Z
    updated: str | None = None  # ISO 8601 UTC: Atom <updated>, sitemap <lastmod> (a later one asks for a refresh)


@dataclass(frozen=True, slots=True)
class ChildSitemap:
    url: str
    lastmod: str | None = None  # ISO 8601 UTC, from the index


@dataclass(slots=True)
class ParsedFeed:
    format: str  # rss20, rss10, atom10, ... (feedparser's version), sitemap, sitemapindex
    title: str | None = None
    entries: list[FeedEntry] = field(default_factory=list)
    children: list[ChildSitemap] = field(default_factory=list)
    dropped: int = 0  # entries without a usable URL
    warning: str | None = None  # the document was recovered from malformed XML

    @property
    def is_index(self) -> bool:
        return self.format == "sitemapindex"


def parse_feed(body: bytes, *, base_url: str, content_type: str = "", kind: str = "auto",
               max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedFeed:
    """Parse ``body`` fetched from ``base_url``; ``kind`` is auto, rss, atom or sitemap."""
    if body.startswith(GZIP_MAGIC):
        body = _gunzip(body, max_bytes)
    if not body.strip():
        raise NotAFeed("empty document")
    if kind == "sitemap" or (kind == "auto" and _looks_like_sitemap(body, content_type)):
        if content_type.startswith("text/plain") or not body.lstrip().startswith(b"<"):
            return _parse_text_sitemap(body, base_url)
        return _parse_sitemap(body, base_url)
    return _parse_syndication(body, base_url, content_type)


# -- dates --------------------------------------------------------------------


def normalize_date(value: str | time.struct_time | None) -> str | None:
    """An ISO 8601 UTC string for a W3C datetime / RFC 822 date / UTC struct_time, else None."""
    if value is None:
        return None
    if isinstance(value, time.struct_time):
        try:
            stamp = calendar.timegm(value)
        except (OverflowError, ValueError):
            return None
        return _iso(datetime.fromtimestamp(stamp, UTC))
    text = value.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = _feedparser_date(text)
        return normalize_date(parsed) if parsed else None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # date-only lastmod: midnight UTC
    return _iso(when.astimezone(UTC))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- helpers ------------------------------------------------------------------


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    try:
        data = decompress_bounded(body, "gzip", max_bytes)
    except TooLarge:
        raise
    except NewswireError as exc:  # corrupt gzip
        raise FeedParseError(f"corrupt gzip document: {exc.detail}") from None
    if not data:
        raise FeedParseError("corrupt or truncated gzip document")
    return data


def _looks_like_sitemap(body: bytes, content_type: str) -> bool:
    head = body[:4096]
    for match in _FIRST_TAG.finditer(head):
        start = match.start()
        if head[start:start + 2] in (b"<?", b"<!"):
            continue
        return match.group(2).decode("ascii", "replace").lower() in _SITEMAP_ROOTS
    # No XML element at all: a plain-text sitemap is a list of URLs, one per line.
    return content_type.startswith("text/plain") and head.lstrip().lower().startswith((b"http://", b"https://"))


def _canonical(raw: str | None, base_url: str) -> str | None:
    if not raw or not isinstance(raw, str):
        return None
    try:
        return canonicalize_url(urljoin(base_url, raw.strip()))
    except NewswireError:
        return None


def _clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


# -- RSS / RDF / Atom ------------------------------------------------------------


def _parse_syndication(body: bytes, base_url: str, content_type: str) -> ParsedFeed:
    # No content-location: feedparser would resolve every URI in the document against
    # it (a third of the parse time); entry links are resolved in _canonical instead,
    # after xml:base, which feedparser still applies.
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    doc = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    version = doc.get("version") or ""
    problem = doc.get("bozo_exception") if doc.get("bozo") else None
    if not version and not doc.entries:
        if problem is not None and _is_broken_xml(body):
            raise FeedParseError(f"malformed feed: {problem}")
        raise NotAFeed(f"not an RSS/Atom feed or sitemap (content type {content_type or 'unknown'})")
    parsed = ParsedFeed(format=version or "unknown", title=_clean_text(doc.feed.get("title")),
                        warning=f"recovered from malformed XML: {problem}" if problem is not None else None)
    for item in doc.entries:
        url = _canonical(_entry_link(item), base_url)
        if url is None:
            parsed.dropped += 1
            continue
        published = normalize_date(item.get("published_parsed") or item.get("updated_parsed")
                                   or item.get("created_parsed"))
        # dict.get: feedparser's own get() answers "updated" with the published date when there is none.
        updated = normalize_date(dict.get(item, "updated_parsed"))
        parsed.entries.append(FeedEntry(url=url, title=_clean_text(item.get("title")), published=published,
                                        updated=updated))
    if problem is not None and not parsed.entries:
        raise FeedParseError(f"malformed feed: {problem}")
    return parsed


def _entry_link(item: feedparser.FeedParserDict) -> str | None:
    link = item.get("link")
    if link:
        return link
    for candidate in item.get("links") or ():
        if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
            return candidate["href"]
    guid = item.get("id") or ""
    # An RSS guid is a link only when it looks like one (isPermaLink is the default, but often wrong).
    return guid if guid.startswith(("http://", "https://")) else None


def _is_broken_xml(body: bytes) -> bool:
    """True for a document that tries to be XML (not HTML, not JSON) and is not well-formed."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith(b"<") or b"<html" in head or b"<!doctype html" in head:
        return False
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return True
    return False


# -- sitemaps ------------------------------------------------------------------


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def _parse_sitemap(body: bytes, base_url: str) -> ParsedFeed:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FeedParseError(f"malformed sitemap: {exc}") from None
    if root is None:
        raise FeedParseError("malformed sitemap: no root element")
    root_name = _local(root.tag)
    if root_name not in _SITEMAP_ROOTS:
        raise NotAFeed(f"XML document with root <{root_name}> is not a sitemap")
    parsed = ParsedFeed(format=root_name)
    for node in root:
        name = _local(node.tag)
        if root_name == "sitemapindex" and name == "sitemap":
            url = _canonical(_child_text(node, "loc"), base_url)
            if url is None:
                parsed.dropped += 1
                continue
            parsed.children.append(ChildSitemap(url=url, lastmod=normalize_date(_child_text(node, "lastmod"))))
        elif root_name == "urlset" and name == "url":
            entry = _sitemap_entry(node, base_url)
            if entry is None:
                parsed.dropped += 1
            else:
                parsed.entries.append(entry)
    return parsed


def _sitemap_entry(node: etree._Element, base_url: str) -> FeedEntry | None:
    url = _canonical(_child_text(node, "loc"), base_url)
    if url is None:
        return None
    title = published = None
    for child in node:
        if _local(child.tag) == "news":  # Google News sitemap extension
            title = _clean_text(_child_text(child, "title"))
            published = normalize_date(_child_text(child, "publication_date"))
    lastmod = normalize_date(_child_text(node, "lastmod"))
    if published is None:
        published = lastmod
    return FeedEntry(url=url, title=title, published=published, updated=lastmod)


def _parse_text_sitemap(body: bytes, base_url: str) -> ParsedFeed:
    parsed = ParsedFeed(format="sitemap")
    for line in body.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line:
            continue
        url = _canonical(line, base_url) if line.startswith(("http://", "https://")) else None
        if url is None:
            parsed.dropped += 1
        else:
            parsed.entries.append(FeedEntry(url=url))
    if not parsed.entries:
        raise NotAFeed("text document without URLs")
    return parsed
