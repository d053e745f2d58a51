"""The fetch stage: polite, safe and robust HTTP fetching of article URLs.

One :class:`Fetcher` per worker process, shared by all its tasks::

    async with Fetcher(FetchConfig.from_settings(settings)) as fetcher:
        page = await fetcher.fetch(url)      # FetchedPage, or raises
        text = page.text()

``fetch`` raises only :class:`~workers.errors.FetchError` subclasses and
:class:`~workers.errors.InvalidURL`, each with ``.attempts`` set, so every
failure becomes one dead-letter record with a stable code:

=====================  ======================================================================
code                   meaning
=====================  ======================================================================
``invalid_url``        bad syntax, scheme other than http/https, credentials in the URL, no
                       host; also a redirect to such a URL
``blocked_address``    the host is, or resolves to, a loopback, private, link-local,
                       multicast, reserved or cloud-metadata address that is not in
                       ``NEWSWIRE_FETCH_ALLOW_HOSTS`` (checked on every redirect hop, before
                       connecting)
``robots_disallowed``  robots.txt of the site (or of a redirect target) disallows the URL
                       for our User-Agent
``http_<status>``      final status not 2xx and not retried, e.g. ``http_404``, ``http_403``,
                       ``http_410``; also a 3xx without a Location header
``http_5xx_exhausted`` every attempt got a 5xx status (the last one is in the detail)
``http_429_exhausted`` every attempt got 429 Too Many Requests
``timeout``            connect, read or total timeout on every attempt (a body that trickles
                       forever ends at the total timeout)
``connection_error``   DNS failure, connection refused/reset, TLS failure, truncated or
                       corrupt body, unsupported Content-Encoding
``too_large``          the body exceeds ``NEWSWIRE_FETCH_MAX_BYTES``, counted on the wire
                       and after gzip/deflate/br decoding (decompression bombs)
``too_many_redirects`` more than ``NEWSWIRE_FETCH_MAX_REDIRECTS`` redirects
``not_html``           a 2xx response that is not text/html or application/xhtml+xml; the
                       detail names the content type
``bot_challenge``      a 403, 429 or 503 whose HTML body is an anti-bot or WAF interstitial
                       (:func:`workers.pipeline.extract.pagekind.challenge_vendor`); not retried.  A
                       challenge served with 200 is recognised by the CPU stages, same code
=====================  ======================================================================

Transient failures (``timeout``, ``connection_error`` other than TLS/encoding
errors, 5xx, 429) are retried up to ``max_attempts`` times with exponential
backoff and jitter, honouring ``Retry-After`` (capped at ``backoff_max_s``).
``attempts`` counts the tries of the stage for that URL (at least 1, also for
failures that were refused before any request).  A retry resumes at the hop
that failed; redirects already followed still count against the limit.

``fetch(url, headers=..., accept=...)`` serves other callers (feeds): extra
request headers for the document, other accepted content types (``None``: any),
and ``304 Not Modified`` returned as a page when the request was conditional.

Politeness: at most ``per_host`` requests in flight to one host and at least
``host_delay_s`` between the starts of two requests to it; at most
``max_connections`` in flight overall.  A task waits for its host's turn
*before* taking a global slot, so a slow or busy site never holds slots the
other sites could use.  robots.txt is fetched once per origin (concurrent
requests wait for the one fetch) and cached for ``robots_ttl_s``; a robots.txt
that is missing, unreachable or answers with an error allows everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import logging
import random
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import brotli
import yarl
from aiohttp.abc import AbstractResolver

from workers.errors import (
    BotChallenge,
    ConfigError,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    NotHTML,
    RobotsDisallowed,
    TooLarge,
    TooManyRedirects,
)

from ...settings import DEFAULTS, Settings
from ..charset import decode_html
from ..extract.pagekind import challenge_vendor
from ..urls import parse_fetchable_url
from ._robots import ALLOW_ALL, MAX_ROBOTS_BYTES, RobotsCache, RobotsRules
from ._ssrf import AddressPolicy, GuardedResolver

__all__ = ["CHALLENGE_STATUSES", "FetchConfig", "FetchedPage", "Fetcher", "HTML_TYPES", "decompress_bounded"]

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Statuses whose HTML body is read to tell an anti-bot interstitial (Cloudflare answers 403 or 503,
# DataDome, PerimeterX and Akamai 403, Kasada and Vercel 429) from a plain refusal; within the same
# size limit as pages.  A rate-limit page is not a challenge: a 429 that says so is retried as before.
CHALLENGE_STATUSES = frozenset({403, 429, 503})
# News sites send long cookie headers; aiohttp's 8 KiB default refuses some of them.
MAX_HEADER_FIELD = 32 * 1024
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309: follow at least five


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """The fetch stage's settings; each default is the ``fetch_*`` setting's (declared in workers/settings.py)."""

    user_agent: str = DEFAULTS.fetch_user_agent
    max_connections: int = DEFAULTS.fetch_max_connections
    per_host: int = DEFAULTS.fetch_per_host
    host_delay_s: float = DEFAULTS.fetch_host_delay_s
    connect_timeout_s: float = DEFAULTS.fetch_connect_timeout_s
    read_timeout_s: float = DEFAULTS.fetch_read_timeout_s
    total_timeout_s: float = DEFAULTS.fetch_total_timeout_s
    max_bytes: int = DEFAULTS.fetch_max_bytes
    max_redirects: int = DEFAULTS.fetch_max_redirects
    max_attempts: int = DEFAULTS.fetch_max_attempts
    backoff_s: float = DEFAULTS.fetch_backoff_s
    backoff_max_s: float = DEFAULTS.fetch_backoff_max_s
    respect_robots: bool = DEFAULTS.fetch_respect_robots
    robots_ttl_s: float = DEFAULTS.fetch_robots_ttl_s
    allow_hosts: tuple[str, ...] = DEFAULTS.fetch_allow_hosts  # hosts or CIDR ranges allowed although loopback/private

    def __post_init__(self) -> None:
        for name in ("max_connections", "per_host", "max_attempts", "max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"FetchConfig.{name} must be at least 1")
        for name in ("host_delay_s", "backoff_s", "backoff_max_s", "robots_ttl_s", "max_redirects"):
            if getattr(self, name) < 0:
                raise ConfigError(f"FetchConfig.{name} must not be negative")
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"FetchConfig.{name} must be positive")
        if isinstance(self.allow_hosts, str):  # a bare string would be allow-listed letter by letter
            raise ConfigError("FetchConfig.allow_hosts must be a tuple of strings")

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchConfig:
        return cls(
            user_agent=settings.fetch_user_agent,
            max_connections=settings.fetch_max_connections,
            per_host=settings.fetch_per_host,
            host_delay_s=settings.fetch_host_delay_s,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            read_timeout_s=settings.fetch_read_timeout_s,
            total_timeout_s=settings.fetch_total_timeout_s,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            max_attempts=settings.fetch_max_attempts,
            backoff_s=settings.fetch_backoff_s,
            backoff_max_s=settings.fetch_backoff_max_s,
            respect_robots=settings.fetch_respect_robots,
            robots_ttl_s=settings.fetch_robots_ttl_s,
            allow_hosts=tuple(settings.fetch_allow_hosts),
        )


@dataclass(slots=True)
class FetchedPage:
    url: str  # as submitted
    final_url: str  # after redirects
    status: int
    content_type: str  # e.g. "text/html"
    charset: str | None  # from the Content-Type header, if any
    body: bytes  # decoded from gzip/deflate/br, at most max_bytes
    headers: dict[str, str]  # names lower-case; repeated headers joined with ", "
    fetched_at: datetime  # timezone-aware UTC
    attempts: int

    def text(self) -> str:
        return decode_html(self.body, self.charset)[0]


# -- errors the retry loop needs to tell apart ----------------------------------


class _PermanentConnectionError(ConnectionFailed):
    """Same dead-letter code as ConnectionFailed, but another attempt cannot help
    (TLS certificate, corrupt or unsupported compression)."""

    retryable = False


def _is_retryable(exc: FetchError) -> bool:
    return bool(exc.retryable)


def _accepted_types() -> frozenset[str] | None:
    options = _DOCUMENT_OPTIONS.get()
    return HTML_TYPES if options is None else options.accept


def _is_conditional() -> bool:
    options = _DOCUMENT_OPTIONS.get()
    return options is not None and options.conditional


# -- content decoding with a bound on the output --------------------------------


class _Decoder:
    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def flush(self) -> bytes:
        return b""


class _Identity(_Decoder):
    def feed(self, data: bytes) -> bytes:
        return data


class _ZlibDecoder(_Decoder):
    """gzip or deflate; never produces more than ``limit + 1`` bytes, whatever the ratio."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._encoding = encoding
        self._limit = limit
        self._produced = 0
        self._inflater: Any = zlib.decompressobj(zlib.MAX_WBITS | 16) if encoding == "gzip" else None

    def feed(self, data: bytes) -> bytes:
        if self._inflater is None:  # "deflate" is zlib-wrapped by the RFC, raw by some servers
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out = []
        try:
            while data and not self._inflater.eof:
                piece = self._inflater.decompress(data, self._limit - self._produced + 1)
                self._produced += len(piece)
                if self._produced > self._limit:
                    raise TooLarge(f"{self._encoding} body inflates beyond {self._limit} bytes")
                out.append(piece)
                data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise _PermanentConnectionError(f"corrupt {self._encoding} body: {exc}") from None
        return b"".join(out)


class _BrotliDecoder(_Decoder):
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._produced = 0
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        out = []
        try:
            while True:
                piece = self._decompressor.process(data, output_buffer_limit=self._limit - self._produced + 1)
                self._produced += len(piece)
                if self._produced > self._limit:
                    raise TooLarge(f"br body inflates beyond {self._limit} bytes")
                out.append(piece)
                data = b""
                if self._decompressor.can_accept_more_data():
                    break
        except brotli.error as exc:
            raise _PermanentConnectionError(f"corrupt br body: {exc}") from None
        return b"".join(out)


class _Chain(_Decoder):
    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.feed(data)
        return data


def _make_decoder(content_encoding: str, limit: int) -> _Decoder:
    names = [n.strip().lower() for n in content_encoding.split(",")]
    names = [n for n in names if n and n != "identity"]
    decoders: list[_Decoder] = []
    for name in reversed(names):  # the last encoding listed was applied last
        if name in ("gzip", "x-gzip"):
            decoders.append(_ZlibDecoder("gzip", limit))
        elif name == "deflate":
            decoders.append(_ZlibDecoder("deflate", limit))
        elif name == "br":
            decoders.append(_BrotliDecoder(limit))
        else:
            raise _PermanentConnectionError(f"unsupported content-encoding {name!r}")
    if not decoders:
        return _Identity()
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


def decompress_bounded(data: bytes, content_encoding: str, limit: int) -> bytes:
    """Decode a whole body (gzip, deflate, br; chained encodings too), refusing more than ``limit`` bytes
    of output with TooLarge: the fetch stage's bomb-safe decoder for callers that hold the bytes already
    (e.g. a ``.xml.gz`` sitemap).  Corrupt data raises ConnectionFailed."""
    decoder = _make_decoder(content_encoding, limit)
    return decoder.feed(data) + decoder.flush()


# -- small helpers ----------------------------------------------------------------


def _parse_content_type(header: str | None) -> tuple[str, str | None]:
    if not header:
        return "", None
    mime, *params = header.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return mime.strip().lower(), charset


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<head" in head


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _headers_dict(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        key = key.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


@dataclass(frozen=True, slots=True)
class _DocumentOptions:
    """Per-call options of :meth:`Fetcher.fetch`, for the document's requests only."""

    headers: dict[str, str]
    accept: frozenset[str] | None  # None: any content type
    conditional: bool  # If-None-Match / If-Modified-Since sent: 304 is a result


# Set by fetch() for the duration of one call.  A context variable rather than
# arguments so the private request methods keep the signatures subclasses
# (workers.feeds.fetch.FeedFetcher) override; robots.txt loads, which run in a
# task that copies the context, ignore it (they are not document requests).
_DOCUMENT_OPTIONS: contextvars.ContextVar[_DocumentOptions | None] = contextvars.ContextVar(
    "newswire_fetch_options", default=None)
_CONDITIONAL_HEADERS = frozenset({"if-none-match", "if-modified-since"})


@dataclass(slots=True)
class _Response:
    url: yarl.URL
    status: int
    headers: dict[str, str]
    content_type: str = ""
    charset: str | None = None
    body: bytes = b""
    location: yarl.URL | None = None


@dataclass(slots=True)
class _HostState:
    slots: asyncio.Semaphore
    pacing: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0
    users: int = 0


# -- the fetcher ------------------------------------------------------------------


class Fetcher:
    """Fetches article URLs; safe to share between many concurrent tasks of one event loop."""

    def __init__(
        self,
        config: FetchConfig,
        *,
        resolver: AbstractResolver | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``resolver`` replaces the system DNS resolver (it is still guarded by the
        SSRF policy); ``sleep`` and ``rng`` are for tests that check the backoff."""
        self.config = config
        self._policy = AddressPolicy(config.allow_hosts)
        self._inner_resolver = resolver
        self._sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._global = asyncio.Semaphore(config.max_connections)
        self._hosts: dict[str, _HostState] = {}
        self._robots = RobotsCache(config.robots_ttl_s)
        self._robots_loading: dict[tuple[str, str, int], asyncio.Task[RobotsRules]] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=None,  # enforced around the whole request, body included, by _request
            connect=config.connect_timeout_s,
            sock_connect=config.connect_timeout_s,
            sock_read=config.read_timeout_s,
        )
        self._request_headers = {
            "User-Agent": config.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "gzip, deflate, br",
        }

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in list(self._robots_loading.values()):
            task.cancel()
        self._robots_loading.clear()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                limit_per_host=0,  # per-host limiting is ours, with pacing
                resolver=GuardedResolver(self._policy, self._inner_resolver),
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,  # decoded here, with a bound on the output
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookie state across thousands of sites
                trust_env=False,  # a proxy would hide the address actually connected to
                max_line_size=MAX_HEADER_FIELD,
                max_field_size=MAX_HEADER_FIELD,
            )
        return self._session

    # -- public ------------------------------------------------------------------

    async def fetch(self, url: str, *, headers: Mapping[str, str] | None = None,
                    accept: Collection[str] | None = HTML_TYPES) -> FetchedPage:
        """Fetch ``url``, following redirects; raises FetchError subclasses or InvalidURL.

        ``headers`` are added to the requests for the document (not to its
        robots.txt); with ``If-None-Match`` or ``If-Modified-Since`` among them a
        ``304 Not Modified`` is returned as a page with ``status == 304`` and an
        empty body instead of raising.  ``accept`` lists the content types taken
        (others raise NotHTML); ``None`` takes any.  The defaults are what the
        article pipeline needs.
        """
        options = None
        if headers or accept != HTML_TYPES:
            options = _DocumentOptions(
                headers=dict(headers or {}),
                accept=None if accept is None else frozenset(a.lower() for a in accept),
                conditional=any(k.lower() in _CONDITIONAL_HEADERS for k in headers or {}),
            )
        token = _DOCUMENT_OPTIONS.set(options)
        try:
            return await self._fetch(url)
        finally:
            _DOCUMENT_OPTIONS.reset(token)

    async def _fetch(self, url: str) -> FetchedPage:
        attempt = 1
        try:
            current = parse_fetchable_url(url).with_fragment(None)  # never sent; not part of final_url
            redirects = 0
            while True:
                try:
                    response = await self._checked_request(current, self.config.max_bytes, for_page=True)
                except FetchError as exc:
                    if not _is_retryable(exc) or attempt >= self.config.max_attempts:
                        raise self._final_error(exc) from None
                    delay = self._backoff(attempt, exc)
                    log.debug("fetch attempt %d of %s failed (%s); retrying in %.2fs", attempt, url, exc, delay)
                    await self._sleep(delay)
                    attempt += 1
                    continue
                if response.location is not None:
                    if redirects >= self.config.max_redirects:
                        raise TooManyRedirects(f"more than {self.config.max_redirects} redirects from {url}")
                    redirects += 1
                    current = response.location
                    continue
                return FetchedPage(
                    url=url,
                    final_url=str(response.url),
                    status=response.status,
                    content_type=response.content_type,
                    charset=response.charset,
                    body=response.body,
                    headers=response.headers,
                    fetched_at=datetime.now(UTC),
                    attempts=attempt,
                )
        except (FetchError, InvalidURL) as exc:
            exc.attempts = attempt
            raise
        except Exception as exc:  # a bug here or in a library must become a dead letter, not a dead worker
            log.exception("unexpected error fetching %s", url)
            raise _PermanentConnectionError(f"unexpected {type(exc).__name__}: {exc}", attempts=attempt) from exc

    # -- retry policy ------------------------------------------------------------

    def _final_error(self, exc: FetchError) -> FetchError:
        if isinstance(exc, HTTPStatusError) and exc.retryable:
            return HTTPStatusError(exc.status, exc.detail, exhausted=True)
        return exc

    def _backoff(self, attempt: int, exc: FetchError) -> float:
        retry_after: float | None = getattr(exc, "retry_after", None)  # only some FetchErrors carry one
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max_s)
        ceiling = min(self.config.backoff_max_s, self.config.backoff_s * 2.0 ** (attempt - 1))
        return ceiling * self._rng.uniform(0.5, 1.0)  # jitter keeps retries of many tasks apart

    # -- one request to one URL ---------------------------------------------------

    async def _checked_request(self, url: yarl.URL, max_bytes: int, *, for_page: bool) -> _Response:
        """SSRF and (for pages) robots checks, then one request; 3xx come back with
        ``location`` set, other non-2xx raise HTTPStatusError.  robots.txt requests
        (``for_page=False``) skip the robots and content-type checks."""
        host = url.raw_host or ""
        self._policy.check_literal(host)
        if for_page and self.config.respect_robots and not await self._robots_allow(url):
            raise RobotsDisallowed(f"robots.txt of {url.host} disallows {url.raw_path_qs}")
        response = await self._request(url, max_bytes, html_only=for_page)
        if response.status == 304 and for_page and _is_conditional():
            return response
        if response.location is None and not 200 <= response.status < 300:
            challenge = challenge_vendor(decode_html(response.body, response.charset)[0]) if response.body else None
            if challenge is not None:
                raise BotChallenge(f"{challenge.vendor} interstitial with HTTP {response.status} from {url}")
            error = HTTPStatusError(response.status, f"HTTP {response.status} from {url}")
            error.retry_after = _parse_retry_after(response.headers.get("retry-after"))  # type: ignore[attr-defined]
            raise error
        return response

    async def _request(self, url: yarl.URL, max_bytes: int, *, html_only: bool) -> _Response:
        session = self._get_session()
        headers = self._request_headers
        options = _DOCUMENT_OPTIONS.get() if html_only else None
        if options is not None and options.headers:
            headers = {**headers, **options.headers}
        try:
            async with self._host_turn(url.raw_host or ""), self._global:
                async with asyncio.timeout(self.config.total_timeout_s):
                    async with session.get(url, headers=headers, allow_redirects=False) as resp:
                        return await self._read_response(url, resp, max_bytes, html_only=html_only)
        except TimeoutError:  # before OSError: TimeoutError is one
            raise FetchTimeout(f"timed out fetching {url}") from None
        except aiohttp.InvalidURL as exc:
            raise InvalidURL(f"{url}: {exc}") from None
        except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as exc:
            raise _PermanentConnectionError(f"TLS error for {url}: {exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionFailed(f"{type(exc).__name__} fetching {url}: {exc}") from None

    async def _read_response(
        self, url: yarl.URL, resp: aiohttp.ClientResponse, max_bytes: int, *, html_only: bool
    ) -> _Response:
        self._check_peer(url, resp)
        headers = _headers_dict(resp.headers)
        status = resp.status
        location = resp.headers.get("Location")  # the first, if a server sends several
        if status in REDIRECT_STATUSES and location:
            try:
                target = parse_fetchable_url(str(url.join(yarl.URL(location))))
            except (ValueError, TypeError) as exc:
                raise InvalidURL(f"bad redirect from {url}: {exc}") from None
            except InvalidURL as exc:
                raise InvalidURL(f"redirect from {url} to {location!r}: {exc.detail}") from None
            return _Response(url=url, status=status, headers=headers, location=target.with_fragment(None))
        if not 200 <= status < 300:
            return _Response(url=url, status=status, headers=headers,
                             **await self._error_body(resp, headers, max_bytes, html_only=html_only))
        content_type, charset = _parse_content_type(headers.get("content-type"))
        accept = _accepted_types() if html_only else None
        if accept is not None and content_type and content_type not in accept:
            raise NotHTML(content_type)
        body = await self._read_body(resp, headers, max_bytes)
        if accept is not None and not content_type:
            if not (accept & HTML_TYPES and _looks_like_html(body)):
                raise NotHTML("(no content type)")
            content_type = "text/html"
        return _Response(url=url, status=status, headers=headers, content_type=content_type,
                         charset=charset, body=body)

    async def _error_body(self, resp: aiohttp.ClientResponse, headers: dict[str, str], max_bytes: int, *,
                          html_only: bool) -> dict[str, Any]:
        """The HTML body of a 403/503 page response, so a challenge behind it can be recognised; empty
        for other statuses, other content types, or a body that breaks the size limit or the connection
        (the status is then the dead letter's reason, as before)."""
        if not html_only or resp.status not in CHALLENGE_STATUSES:
            return {}
        content_type, charset = _parse_content_type(headers.get("content-type"))
        if content_type and content_type not in HTML_TYPES:
            return {}
        try:
            body = await self._read_body(resp, headers, max_bytes)
        except (TooLarge, ConnectionFailed, aiohttp.ClientError, OSError):
            return {}
        return {"body": body, "charset": charset}

    def _check_peer(self, url: yarl.URL, resp: aiohttp.ClientResponse) -> None:
        """Belt and braces: the socket's peer must pass the policy too."""
        connection = resp.connection
        transport = connection.transport if connection is not None else None
        peer = transport.get_extra_info("peername") if transport is not None else None
        if peer:
            self._policy.check_address(url.raw_host or "", str(peer[0]))

    async def _read_body(self, resp: aiohttp.ClientResponse, headers: dict[str, str], max_bytes: int) -> bytes:
        """The body, decoded, refusing more than ``max_bytes`` on the wire or after decoding."""
        decoder = _make_decoder(headers.get("content-encoding", ""), max_bytes)
        declared = resp.content_length
        if declared is not None:
            if declared > max_bytes:
                raise TooLarge(f"Content-Length {declared} exceeds {max_bytes} bytes")
            # aiohttp's parser stops at Content-Length, so reading it all is bounded.
            body = decoder.feed(await resp.read())
            return body + decoder.flush()
        received = 0
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():  # no length: stream, and stop at the limit
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(f"body exceeds {max_bytes} bytes")
            piece = decoder.feed(chunk)
            size += len(piece)
            if size > max_bytes:
                raise TooLarge(f"decoded body exceeds {max_bytes} bytes")
            parts.append(piece)
        parts.append(decoder.flush())
        return b"".join(parts)

    # -- politeness ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _host_turn(self, host: str) -> AsyncIterator[None]:
        """Wait for a per-host slot and the host's pacing delay."""
        key = host.lower()
        state = self._hosts.get(key)
        if state is None:
            state = self._hosts[key] = _HostState(slots=asyncio.Semaphore(self.config.per_host))
            if len(self._hosts) > 4096:
                self._forget_idle_hosts()
        state.users += 1
        try:
            async with state.slots:
                if self.config.host_delay_s > 0:
                    async with state.pacing:
                        loop = asyncio.get_running_loop()
                        wait = state.next_start - loop.time()
                        if wait > 0:
                            await self._sleep(wait)
                        state.next_start = loop.time() + self.config.host_delay_s
                yield
        finally:
            state.users -= 1
            idle = state.users == 0 and state.next_start <= asyncio.get_running_loop().time()
            if idle and self._hosts.get(key) is state:
                del self._hosts[key]

    def _forget_idle_hosts(self) -> None:
        now = asyncio.get_running_loop().time()
        for key, state in list(self._hosts.items()):
            if state.users == 0 and state.next_start <= now:
                del self._hosts[key]

    # -- robots.txt ------------------------------------------------------------------

    async def _robots_allow(self, url: yarl.URL) -> bool:
        origin = (url.scheme, (url.raw_host or "").lower(), url.port or 0)
        rules = self._robots.get(origin)
        if rules is None:
            task = self._robots_loading.get(origin)
            if task is None:
                task = asyncio.ensure_future(self._load_robots(url, origin))
                self._robots_loading[origin] = task
            # shield: one waiter being cancelled must not cancel the fetch the others wait for
            rules = await asyncio.shield(task)
        return rules.allowed(url.raw_path_qs)

    async def _load_robots(self, url: yarl.URL, origin: tuple[str, str, int]) -> RobotsRules:
        try:
            rules = await self._fetch_robots(url.origin().with_path("/robots.txt"))
        except Exception:  # robots.txt trouble of any kind allows, as unreachable does
            log.exception("unexpected error loading robots.txt for %s", url.origin())
            rules = ALLOW_ALL
        finally:
            self._robots_loading.pop(origin, None)
        self._robots.put(origin, rules)
        return rules

    async def _fetch_robots(self, robots_url: yarl.URL) -> RobotsRules:
        """One try; anything but a 2xx robots.txt (error, 4xx, 5xx, unreachable) allows all."""
        current = robots_url
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            try:
                response = await self._checked_request(current, MAX_ROBOTS_BYTES, for_page=False)
            except (FetchError, InvalidURL):
                return ALLOW_ALL
            if response.location is None:
                text = response.body.decode("utf-8", "replace")
                return RobotsRules.parse(text, self.config.user_agent)
            current = response.location
        return ALLOW_ALL

