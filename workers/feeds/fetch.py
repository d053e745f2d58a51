"""Conditional GET of feed documents through the fetch stage's :class:`Fetcher`.

The article fetcher already does everything a feed request needs (SSRF guard on
every hop, robots.txt, per-host politeness, timeouts, size and decompression
limits, retries).  Two things it does not do yet, and this module adds by the
smallest possible wrapping, without a second HTTP client:

* send request headers of our own (``If-None-Match`` / ``If-Modified-Since``,
  an ``Accept`` that prefers feeds) and treat ``304 Not Modified`` as a result;
* accept bodies that are not HTML (XML, gzip files, text/plain sitemaps).

Both hook into private details of :class:`~workers.pipeline.fetch.Fetcher`
(``_request`` and ``_request_headers``); the API change that would make this
module a few lines long is proposed in the issue 11 report:
``Fetcher.fetch(url, *, headers=None, accept=HTML_TYPES)`` returning a
``FetchedPage`` with ``status == 304`` for a conditional request.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import yarl

from workers.errors import HTTPStatusError
from workers.pipeline.fetch import FetchConfig, Fetcher

__all__ = ["FeedFetcher", "FeedResponse", "FEED_ACCEPT"]

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")

# Headers for the document being fetched by the current task (never for its robots.txt).
_wanted_headers: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("feed_headers", default=None)
# Headers of the request being sent right now (set per request by FeedFetcher._request).
_request_extra: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("feed_request", default=None)


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


class FeedFetcher(Fetcher):
    """A :class:`Fetcher` that makes conditional requests and accepts any content type."""

    def __init__(self, config: FetchConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)

    # Fetcher.__init__ assigns self._request_headers; keep that as the base and add ours per request.
    @property
    def _request_headers(self) -> dict[str, str]:  # type: ignore[override]
        extra = _request_extra.get()
        return self._base_headers if not extra else {**self._base_headers, **extra}

    @_request_headers.setter
    def _request_headers(self, value: dict[str, str]) -> None:
        self._base_headers = value

    async def _request(self, url: yarl.URL, max_bytes: int, *, html_only: bool) -> Any:
        # html_only is True for the document itself and False for robots.txt (see
        # Fetcher._checked_request): only the document gets the conditional headers,
        # and it may be of any content type.
        token = _request_extra.set(_wanted_headers.get() if html_only else None)
        try:
            return await super()._request(url, max_bytes, html_only=False)
        finally:
            _request_extra.reset(token)

    async def fetch_feed(self, url: str, *, etag: str | None = None,
                         last_modified: str | None = None) -> FeedResponse:
        """GET ``url``; with validators, a ``304`` comes back as ``status == 304``.

        Raises what :meth:`Fetcher.fetch` raises (FetchError subclasses, InvalidURL).
        """
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        token = _wanted_headers.set(headers)
        try:
            page = await self.fetch(url)
        except HTTPStatusError as exc:
            if exc.status != 304 or not (etag or last_modified):
                raise
            return FeedResponse(url=url, final_url=url, status=304, body=b"", content_type="",
                                etag=etag, last_modified=last_modified, attempts=exc.attempts)
        finally:
            _wanted_headers.reset(token)
        return FeedResponse(url=url, final_url=page.final_url, status=page.status, body=page.body,
                            content_type=page.content_type, etag=page.headers.get("etag"),
                            last_modified=page.headers.get("last-modified"), attempts=page.attempts)

    async def fetch_document(self, url: str) -> FeedResponse:
        """GET ``url`` with no validators (discovery: home pages, robots.txt)."""
        return await self.fetch_feed(url)
