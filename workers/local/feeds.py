"""Feeds served from 127.0.0.1 for the tests, the demo and the benchmark.

    with PageServer() as server:
        feed = ServedFeed(rss_document("News", items))
        url = server.add("/feed.xml", feed)           # a PageServer route handler
        ...
        feed.update(rss_document("News", more_items))  # new ETag and Last-Modified
        feed.requests, feed.conditional, feed.not_modified

A :class:`ServedFeed` answers like a well-behaved feed server: ``ETag`` and
``Last-Modified`` on every response, ``304 Not Modified`` when the request's
``If-None-Match`` (or, without it, ``If-Modified-Since``) matches, and it
counts what it saw so a test can check the conditional headers were sent.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

__all__ = [
    "Item",
    "ServedFeed",
    "atom_document",
    "rdf_document",
    "rss_document",
    "sitemap_document",
    "sitemap_index_document",
]


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    published: float  # epoch seconds


def _rfc822(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def _w3c(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def rss_document(title: str, items: list[Item], link: str = "/") -> bytes:
    entries = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f"<guid isPermaLink=\"false\">{escape(i.link)}</guid><pubDate>{_rfc822(i.published)}</pubDate></item>"
        for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>{escape(link)}</link><description>{escape(title)}</description>{entries}</channel></rss>").encode()


def atom_document(title: str, items: list[Item]) -> bytes:
    updated = _w3c(max((i.published for i in items), default=0))
    entries = "".join(
        f"<entry><title>{escape(i.title)}</title><link rel=\"alternate\" href=\"{escape(i.link)}\"/>"
        f"<id>{escape(i.link)}</id><published>{_w3c(i.published)}</published>"
        f"<updated>{_w3c(i.published)}</updated></entry>" for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><id>urn:newswire:{escape(title)}</id><updated>{updated}</updated>"
            f"{entries}</feed>").encode()


def rdf_document(title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f'<item rdf:about="{escape(i.link)}"><title>{escape(i.title)}</title><link>{escape(i.link)}</link>'
        f"<dc:date>{_w3c(i.published)}</dc:date></item>" for i in items)
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="urn:x"><title>{escape(title)}</title><link>/</link>'
            f"<description>{escape(title)}</description></channel>{entries}</rdf:RDF>").encode()


def sitemap_document(items: list[Item], *, news: bool = True, publication: str = "Newswire Test") -> bytes:
    def one(i: Item) -> str:
        extra = ""
        if news:
            extra = (f"<news:news><news:publication><news:name>{escape(publication)}</news:name>"
                     f"<news:language>en</news:language></news:publication>"
                     f"<news:publication_date>{_w3c(i.published)}</news:publication_date>"
                     f"<news:title>{escape(i.title)}</news:title></news:news>")
        return f"<url><loc>{escape(i.link)}</loc>{extra}</url>"

    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            + "".join(one(i) for i in items) + "</urlset>").encode()


def sitemap_index_document(children: list[tuple[str, float | None]]) -> bytes:
    parts = "".join(f"<sitemap><loc>{escape(url)}</loc>"
                    + (f"<lastmod>{_w3c(lastmod)}</lastmod>" if lastmod else "") + "</sitemap>"
                    for url, lastmod in children)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{parts}</sitemapindex>').encode()


class ServedFeed:
    """A PageServer route handler for one feed document with validators and 304s."""

    def __init__(self, body: bytes, content_type: str = "application/rss+xml; charset=utf-8") -> None:
        self._lock = threading.Lock()
        self.content_type = content_type
        self.requests = 0  # every GET
        self.conditional = 0  # GETs that carried If-None-Match or If-Modified-Since
        self.not_modified = 0  # 304s sent
        self.bytes_sent = 0  # body bytes sent
        self.request_times: list[float] = []  # time.time() of each GET
        self.update(body)

    def update(self, body: bytes) -> None:
        with self._lock:
            self.body = body
            self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            self.last_modified = email.utils.formatdate(time.time(), usegmt=True)

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests += 1
            self.request_times.append(time.time())
            if_none_match = handler.headers.get("If-None-Match")
            if_modified_since = handler.headers.get("If-Modified-Since")
            self.conditional += bool(if_none_match or if_modified_since)
            if if_none_match is not None:
                fresh = self.etag in [tag.strip() for tag in if_none_match.split(",")]
            else:
                fresh = if_modified_since is not None and if_modified_since == self.last_modified
            body, etag, last_modified = self.body, self.etag, self.last_modified
            if fresh:
                self.not_modified += 1
            else:
                self.bytes_sent += len(body)
        handler.send_response(304 if fresh else 200)
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", last_modified)
        if fresh:
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
