"""The fetch stage against a local HTTP server on 127.0.0.1.

Every test runs under ``loopback_only_connections``: if the code under test
ever tried to connect anywhere but loopback, the test fails before a packet
leaves.  Timeouts and backoffs are tiny; backoff delays are checked through an
injected ``sleep`` rather than by the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import socket
import zlib
from datetime import UTC

import brotli
import pytest
from aiohttp import web

from tests.unit._httpserver import LocalServer, loopback_only_connections, trickle
from workers.errors import (
    ConnectionFailed,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    NotHTML,
    TooLarge,
    TooManyRedirects,
)
from workers.pipeline.fetch import FetchConfig, FetchedPage, Fetcher
from workers.settings import Settings

pytestmark = pytest.mark.timeout(20)

FAST = FetchConfig(
    allow_hosts=("127.0.0.1",),
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    total_timeout_s=5.0,
    backoff_s=0.001,
    backoff_max_s=0.01,
    respect_robots=False,
)
PAGE = "<!doctype html><html><head><title>t</title></head><body><p>Hello, world.</p></body></html>"


class SleepRecorder:
    """Stands in for asyncio.sleep: records each backoff delay and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
async def server():
    with loopback_only_connections() as attempted:
        async with LocalServer() as srv:
            yield srv
    assert all(addr in ("127.0.0.1", "::1") for addr in attempted)


def fetcher(**changes) -> Fetcher:
    return Fetcher(dataclasses.replace(FAST, **changes))


def sequence(*responses):
    """A handler answering with the given responses in turn, then the last one forever."""
    calls = iter(responses)
    last = [None]

    def handler(_request: web.Request) -> web.StreamResponse:
        spec = next(calls, last[0])
        last[0] = spec
        status, headers, body = spec
        return web.Response(status=status, headers=headers, body=body)

    return handler


# -- success ----------------------------------------------------------------------


async def test_fetches_a_page_with_metadata(server):
    server.html("/a", PAGE, **{"X-Custom": "yes"})
    async with fetcher() as f:
        page = await f.fetch(server.url("/a#frag"))
    assert isinstance(page, FetchedPage)
    assert page.status == 200
    assert page.url == server.url("/a#frag")
    assert page.final_url == server.url("/a")
    assert page.content_type == "text/html"
    assert page.charset == "utf-8"
    assert page.body == PAGE.encode()
    assert page.text() == PAGE
    assert page.headers["x-custom"] == "yes"
    assert page.fetched_at.tzinfo is not None and page.fetched_at.utcoffset() == UTC.utcoffset(None)
    assert page.attempts == 1


async def test_sends_configured_user_agent_and_accepts_compression(server):
    server.html("/a", PAGE)
    async with fetcher(user_agent="test-agent/9") as f:
        await f.fetch(server.url("/a"))
    request = server.requests[-1]
    assert request.headers["User-Agent"] == "test-agent/9"
    assert "br" in request.headers["Accept-Encoding"] and "gzip" in request.headers["Accept-Encoding"]


async def test_xhtml_is_accepted(server):
    server.route("/x", lambda r: web.Response(body=b"<html/>", headers={"Content-Type": "application/xhtml+xml"}))
    async with fetcher() as f:
        page = await f.fetch(server.url("/x"))
    assert page.content_type == "application/xhtml+xml"


# -- status codes and retries ---------------------------------------------------------


async def test_404_is_not_retried(server):
    async with fetcher(max_attempts=3) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/missing"))
    assert info.value.error_code == "http_404"
    assert info.value.attempts == 1
    assert server.hits["/missing"] == 1


async def test_500_then_200_succeeds_on_retry(server):
    server.route("/flaky", sequence((500, {}, b"oops"), (200, {"Content-Type": "text/html"}, PAGE.encode())))
    async with fetcher(max_attempts=3) as f:
        page = await f.fetch(server.url("/flaky"))
    assert page.status == 200 and page.attempts == 2
    assert server.hits["/flaky"] == 2


async def test_persistent_5xx_is_exhausted_after_max_attempts(server):
    server.route("/down", sequence((503, {}, b"down")))
    async with fetcher(max_attempts=3) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/down"))
    assert info.value.error_code == "http_5xx_exhausted"
    assert info.value.status == 503
    assert info.value.attempts == 3
    assert server.hits["/down"] == 3


async def test_429_honours_retry_after(server):
    server.route("/busy", sequence((429, {"Retry-After": "7"}, b""), (200, {"Content-Type": "text/html"}, b"<html>")))
    sleep = SleepRecorder()
    async with Fetcher(dataclasses.replace(FAST, backoff_max_s=30.0), sleep=sleep) as f:
        page = await f.fetch(server.url("/busy"))
    assert page.attempts == 2
    assert sleep.delays == [7.0]


async def test_retry_after_is_capped_and_429_exhausts(server):
    server.route("/busy", sequence((429, {"Retry-After": "3600"}, b"")))
    sleep = SleepRecorder()
    async with Fetcher(dataclasses.replace(FAST, backoff_max_s=2.5, max_attempts=2), sleep=sleep) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/busy"))
    assert info.value.error_code == "http_429_exhausted"
    assert info.value.attempts == 2
    assert sleep.delays == [2.5]


async def test_backoff_grows_exponentially_with_jitter(server):
    server.route("/down", sequence((502, {}, b"")))
    sleep = SleepRecorder()
    config = dataclasses.replace(FAST, backoff_s=0.1, backoff_max_s=0.3, max_attempts=5)
    async with Fetcher(config, sleep=sleep) as f:
        with pytest.raises(HTTPStatusError):
            await f.fetch(server.url("/down"))
    assert len(sleep.delays) == 4
    for delay, ceiling in zip(sleep.delays, [0.1, 0.2, 0.3, 0.3], strict=True):
        assert ceiling / 2 <= delay <= ceiling


async def test_truncated_body_is_retried(server):
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] > 1:
            return web.Response(text=PAGE, content_type="text/html")
        response = web.StreamResponse(headers={"Content-Type": "text/html", "Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"<html>")
        request.transport.abort()  # connection reset in the middle of the body
        return response

    server.route("/reset", handler)
    async with fetcher(max_attempts=2) as f:
        page = await f.fetch(server.url("/reset"))
    assert page.attempts == 2 and page.body == PAGE.encode()


async def test_connection_refused_is_connection_error_after_retries():
    with loopback_only_connections():
        sock_server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = sock_server.sockets[0].getsockname()[1]
        sock_server.close()
        await sock_server.wait_closed()  # nothing listens on the port any more
        async with fetcher(max_attempts=2) as f:
            with pytest.raises(ConnectionFailed) as info:
                await f.fetch(f"http://127.0.0.1:{port}/")
    assert info.value.error_code == "connection_error"
    assert info.value.attempts == 2


# -- timeouts --------------------------------------------------------------------------


async def test_trickling_body_ends_at_total_timeout(server):
    server.route("/slow", trickle)  # a chunk every 50 ms, forever: the read timeout never fires
    async with fetcher(read_timeout_s=1.0, total_timeout_s=0.3, max_attempts=2) as f:
        with pytest.raises(FetchTimeout) as info:
            await f.fetch(server.url("/slow"))
    assert info.value.error_code == "timeout"
    assert info.value.attempts == 2
    assert server.hits["/slow"] == 2


async def test_stalled_response_hits_read_timeout(server):
    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(10)
        return web.Response(text="late")

    server.route("/stall", stall)
    async with fetcher(read_timeout_s=0.2, total_timeout_s=5.0, max_attempts=1) as f:
        with pytest.raises(FetchTimeout) as info:
            await f.fetch(server.url("/stall"))
    assert info.value.attempts == 1


async def test_connect_timeout():
    """A listener whose accept queue is full: the kernel drops further SYNs, so the
    connect hangs until the connect timeout (total and read timeouts are long)."""
    listener = socket.socket()
    fillers = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        with loopback_only_connections():
            async with fetcher(connect_timeout_s=0.2, read_timeout_s=5.0, total_timeout_s=5.0, max_attempts=1) as f:
                with pytest.raises(FetchTimeout):
                    await f.fetch(f"http://127.0.0.1:{port}/")
    finally:
        for sock in [*fillers, listener]:
            sock.close()


# -- size limits and compression ----------------------------------------------------------


async def test_oversized_body_with_content_length_is_refused(server):
    server.html("/big", b"<html>" + b"x" * 5000)
    async with fetcher(max_bytes=1000) as f:
        with pytest.raises(TooLarge) as info:
            await f.fetch(server.url("/big"))
    assert info.value.error_code == "too_large"


async def test_oversized_streamed_body_is_aborted(server):
    sent = {"bytes": 0}

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})  # chunked, no length
        await response.prepare(request)
        try:
            for _ in range(10_000):  # up to 640 MB if the client never stopped reading
                await response.write(b"x" * 65536)
                sent["bytes"] += 65536
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    server.route("/endless", endless)
    async with fetcher(max_bytes=200_000) as f:
        with pytest.raises(TooLarge):
            await f.fetch(server.url("/endless"))
    await asyncio.sleep(0.05)
    assert sent["bytes"] < 100_000_000  # the client hung up instead of buffering it all


async def test_gzip_bomb_is_refused(server):
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)  # ~20 KB on the wire
    assert len(bomb) < 100_000
    server.route("/bomb", lambda r: web.Response(body=bomb, headers={"Content-Type": "text/html",
                                                                      "Content-Encoding": "gzip"}))
    async with fetcher(max_bytes=1_000_000) as f:
        with pytest.raises(TooLarge) as info:
            await f.fetch(server.url("/bomb"))
    assert "inflates" in info.value.detail


async def test_streamed_gzip_bomb_is_refused(server):
    """No Content-Length: the body is decoded while streaming and stopped at the limit."""
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(bomb), 4096):
                await response.write(bomb[start:start + 4096])
        return response

    server.route("/bomb", handler)
    async with fetcher(max_bytes=1_000_000) as f:
        with pytest.raises(TooLarge) as info:
            await f.fetch(server.url("/bomb"))
    assert "exceeds" in info.value.detail or "inflates" in info.value.detail


async def test_brotli_bomb_is_refused(server):
    bomb = brotli.compress(b"\0" * 20_000_000, quality=1)
    server.route("/bomb", lambda r: web.Response(body=bomb, headers={"Content-Type": "text/html",
                                                                      "Content-Encoding": "br"}))
    async with fetcher(max_bytes=1_000_000) as f:
        with pytest.raises(TooLarge):
            await f.fetch(server.url("/bomb"))


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress),
    ("br", brotli.compress),
    ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as some servers send
])
async def test_compressed_bodies_are_decoded(server, encoding, compress):
    body = (PAGE * 200).encode()
    server.route("/c", lambda r: web.Response(body=compress(body), headers={"Content-Type": "text/html",
                                                                            "Content-Encoding": encoding}))
    async with fetcher() as f:
        page = await f.fetch(server.url("/c"))
    assert page.body == body


async def test_corrupt_gzip_is_a_connection_error_not_retried(server):
    server.route("/bad", lambda r: web.Response(body=b"not gzip at all", headers={"Content-Type": "text/html",
                                                                                   "Content-Encoding": "gzip"}))
    async with fetcher(max_attempts=3) as f:
        with pytest.raises(ConnectionFailed) as info:
            await f.fetch(server.url("/bad"))
    assert info.value.attempts == 1 and "gzip" in info.value.detail


# -- content type and charset ---------------------------------------------------------------


async def test_non_html_is_a_dead_letter_naming_the_type(server):
    server.route("/doc.pdf", lambda r: web.Response(body=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}))
    async with fetcher() as f:
        with pytest.raises(NotHTML) as info:
            await f.fetch(server.url("/doc.pdf"))
    assert info.value.error_code == "not_html"
    assert "application/pdf" in str(info.value)


async def test_missing_content_type_is_sniffed(server):
    server.route("/html", lambda r: web.Response(body=PAGE.encode(), headers={"Content-Type": ""}))
    server.route("/bin", lambda r: web.Response(body=b"\x89PNG\r\n\x1a\n....", headers={"Content-Type": ""}))
    async with fetcher() as f:
        page = await f.fetch(server.url("/html"))
        with pytest.raises(NotHTML):
            await f.fetch(server.url("/bin"))
    assert page.content_type == "text/html"


@pytest.mark.parametrize("encoding, text", [
    ("windows-1251", "Правительство России сегодня объявило о новых мерах поддержки экономики. "
                     "Министр финансов заявил журналистам, что бюджет будет исполнен полностью. " * 4),
    ("shift_jis", "東京都は本日、新しい交通政策を発表しました。市民の生活に大きな影響があると見られています。"
                  "政府は来年度の予算案を閣議決定しました。" * 4),
])
async def test_page_without_charset_header_is_decoded(server, encoding, text):
    html = f"<html><head><title>news</title></head><body><p>{text}</p></body></html>"
    server.route("/p", lambda r: web.Response(body=html.encode(encoding), headers={"Content-Type": "text/html"}))
    async with fetcher() as f:
        page = await f.fetch(server.url("/p"))
    assert page.charset is None
    assert page.text() == html


# -- redirects -----------------------------------------------------------------------------------


def redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def redirect_chain(server: LocalServer, length: int) -> None:
    for i in range(length):
        server.route(f"/r{i}", lambda r, i=i: redirect(f"/r{i + 1}"))  # relative Location
    server.html(f"/r{length}", PAGE)


async def test_redirects_are_followed_and_final_url_recorded(server):
    redirect_chain(server, 3)
    async with fetcher(max_redirects=3) as f:
        page = await f.fetch(server.url("/r0"))
    assert page.final_url == server.url("/r3")
    assert page.url == server.url("/r0")


async def test_redirect_chain_longer_than_limit_is_refused(server):
    redirect_chain(server, 4)
    async with fetcher(max_redirects=3) as f:
        with pytest.raises(TooManyRedirects) as info:
            await f.fetch(server.url("/r0"))
    assert info.value.error_code == "too_many_redirects"
    assert server.hits["/r4"] == 0  # stopped at the limit, not after following


async def test_retry_resumes_at_the_failing_hop(server):
    server.route("/start", lambda r: redirect("/flaky", 301))
    server.route("/flaky", sequence((500, {}, b""), (200, {"Content-Type": "text/html"}, b"<html>")))
    async with fetcher(max_attempts=2) as f:
        page = await f.fetch(server.url("/start"))
    assert page.attempts == 2 and page.final_url == server.url("/flaky")
    assert server.hits["/start"] == 1


async def test_redirect_to_other_scheme_is_invalid(server):
    server.route("/r", lambda r: redirect("file:///etc/passwd"))
    async with fetcher() as f:
        with pytest.raises(InvalidURL) as info:
            await f.fetch(server.url("/r"))
    assert info.value.error_code == "invalid_url"


# -- invalid URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/a", "http://user:pw@127.0.0.1/", "not a url", "http:///x",
                                 "javascript:alert(1)", ""])
async def test_invalid_urls_are_refused_without_traffic(server, url):
    async with fetcher() as f:
        with pytest.raises(InvalidURL) as info:
            await f.fetch(url)
    assert info.value.attempts == 1
    assert not server.requests


# -- config ------------------------------------------------------------------------------------------


def test_config_from_settings_maps_every_field():
    settings = Settings(
        fetch_allow_hosts=("127.0.0.1", "10.0.0.0/8"), fetch_user_agent="ua/1", fetch_max_connections=7,
        fetch_per_host=3, fetch_host_delay_s=0.25, fetch_connect_timeout_s=1.5, fetch_read_timeout_s=2.5,
        fetch_total_timeout_s=3.5, fetch_max_bytes=1234, fetch_max_redirects=9, fetch_max_attempts=4,
        fetch_backoff_s=0.75, fetch_backoff_max_s=8.0, fetch_respect_robots=False, fetch_robots_ttl_s=60.0,
    )
    config = FetchConfig.from_settings(settings)
    for f in dataclasses.fields(FetchConfig):
        assert getattr(config, f.name) == getattr(settings, "fetch_" + f.name), f.name



def test_config_defaults_are_the_declared_settings_defaults():
    declared = {f.name: f.default for f in dataclasses.fields(Settings)}
    for f in dataclasses.fields(FetchConfig):
        assert f.default == declared["fetch_" + f.name], f.name
    assert FetchConfig() == FetchConfig.from_settings(Settings())

# -- per-call options: extra headers, accepted types, conditional requests ------------------------


async def test_extra_headers_go_to_the_document_not_to_robots(server):
    server.route("/robots.txt", lambda r: web.Response(text="User-agent: *\nAllow: /\n"))
    server.html("/a", PAGE)
    async with fetcher(respect_robots=True) as f:
        await f.fetch(server.url("/a"), headers={"X-Trace": "1"})
    by_path = {r.path: r for r in server.requests}
    assert by_path["/a"].headers["X-Trace"] == "1"
    assert "X-Trace" not in by_path["/robots.txt"].headers


async def test_accept_none_takes_any_type_and_accept_set_restricts(server):
    server.route("/doc.pdf", lambda r: web.Response(body=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}))
    server.route("/feed", lambda r: web.Response(body=b"<rss/>", headers={"Content-Type": "application/rss+xml"}))
    async with fetcher() as f:
        pdf = await f.fetch(server.url("/doc.pdf"), accept=None)
        feed = await f.fetch(server.url("/feed"), accept={"application/rss+xml"})
        with pytest.raises(NotHTML):
            await f.fetch(server.url("/doc.pdf"), accept={"application/rss+xml"})
    assert pdf.body == b"%PDF-1.7" and feed.content_type == "application/rss+xml"


async def test_conditional_request_returns_304_as_a_page(server):
    def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(text=PAGE, content_type="text/html", headers={"ETag": '"v1"'})

    server.route("/c", handler)
    async with fetcher() as f:
        first = await f.fetch(server.url("/c"))
        again = await f.fetch(server.url("/c"), headers={"If-None-Match": first.headers["etag"]})
    assert first.status == 200
    assert again.status == 304 and again.body == b""


async def test_unconditional_304_is_an_error(server):
    server.route("/c", lambda r: web.Response(status=304))
    async with fetcher() as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(server.url("/c"))
    assert info.value.error_code == "http_304"


async def test_unexpected_errors_become_dead_letters(server, monkeypatch):
    server.html("/a", PAGE)

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    async with fetcher() as f:
        monkeypatch.setattr(f, "_check_peer", broken)
        with pytest.raises(ConnectionFailed) as info:
            await f.fetch(server.url("/a"))
    assert "RuntimeError" in info.value.detail and info.value.attempts == 1


def test_config_refuses_nonsense():
    from workers.errors import ConfigError

    for bad in ({"per_host": 0}, {"max_attempts": 0}, {"total_timeout_s": 0}, {"allow_hosts": "127.0.0.1"}):
        with pytest.raises(ConfigError):
            FetchConfig(**bad)
