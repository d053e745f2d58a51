"""Conditional GET of feed documents through the fetch stage's :class:`Fetcher`.

Feeds are fetched by the same code as articles (SSRF guard on every hop,
robots.txt, per-host politeness, timeouts, size and decompression limits,
retries); this module only says what a feed request is:

* an ``Accept`` that prefers feeds, and the validators of the last response
  (``If-None-Match`` / ``If-Modified-Since``), so an unchanged feed costs one
  ``304 Not Modified``;
* any content type (XML, gzip files, text/plain sitemaps): the parser decides.

Any :class:`Fetcher` will do (:func:`fetch_feed`); :class:`FeedFetcher` is a
Fetcher with the same as a method.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.pipeline.fetch import Fetcher

__all__ = ["FEED_ACCEPT", "FeedFetcher", "FeedResponse", "fetch_feed"]

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")


@dataclass(frozen=True, slots=True)
class FeedResponse:
    url: str  # as requested
    final_url: str  # after redirects: the base for relative links
    status: int  # 200.. or 304
    body: bytes  # empty for 304
    content_type: str
    etag: str | None
    last_modified: str | None
    attempts: int

    @property
    def not_modified(self) -> bool:
        return self.status == 304


async def fetch_feed(fetcher: Fetcher, url: str, *, etag: str | None = None,
                     last_modified: str | None = None) -> FeedResponse:
    """GET ``url``; with validators, an unchanged document comes back with ``status == 304``.

    Raises what :meth:`Fetcher.fetch` raises (FetchError subclasses, InvalidURL);
    a 304 to a request without validators is ``http_304``.
    """
    headers = {"Accept": FEED_ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    page = await fetcher.fetch(url, headers=headers, accept=None)
    if page.status == 304:  # the validators still hold; a 304 may omit or repeat them
        return FeedResponse(url=url, final_url=page.final_url, status=304, body=b"", content_type="",
                            etag=page.headers.get("etag") or etag,
                            last_modified=page.headers.get("last-modified") or last_modified,
                            attempts=page.attempts)
    return FeedResponse(url=url, final_url=page.final_url, status=page.status, body=page.body,
                        content_type=page.content_type, etag=page.headers.get("etag"),
                        last_modified=page.headers.get("last-modified"), attempts=page.attempts)


class FeedFetcher(Fetcher):
    """A :class:`Fetcher` with :func:`fetch_feed` as a method."""

    async def fetch_feed(self, url: str, *, etag: str | None = None,
                         last_modified: str | None = None) -> FeedResponse:
        return await fetch_feed(self, url, etag=etag, last_modified=last_modified)

    async def fetch_document(self, url: str) -> FeedResponse:
        """GET ``url`` without validators (discovery: home pages, robots.txt)."""
        return await fetch_feed(self, url)
