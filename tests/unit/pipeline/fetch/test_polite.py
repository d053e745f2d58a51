"""Politeness of the fetch stage: robots.txt, per-host and global limits, host delay."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp import web

from tests.unit._httpserver import LocalServer, loopback_only_connections
from tests.unit.pipeline.fetch.test_client import SleepRecorder
from tests.unit.pipeline.fetch.test_safety import FakeResolver
from workers.errors import RobotsDisallowed
from workers.pipeline.fetch import FetchConfig, Fetcher
from workers.pipeline.fetch._robots import RobotsCache, RobotsRules, product_token

pytestmark = pytest.mark.timeout(20)

CONFIG = FetchConfig(allow_hosts=("127.0.0.1",), backoff_s=0.001, backoff_max_s=0.01, user_agent="newswire/0.1 (+x)",
                     connect_timeout_s=2.0, read_timeout_s=2.0, total_timeout_s=5.0)
PAGE = "<html><body>ok</body></html>"


@pytest.fixture
async def server():
    with loopback_only_connections():
        async with LocalServer() as srv:
            yield srv


# -- robots.txt against the server ------------------------------------------------------


async def test_robots_disallow_is_a_dead_letter(server):
    server.route("/robots.txt", lambda r: web.Response(text="User-agent: *\nDisallow: /private/\n"))
    server.html("/private/a", PAGE)
    server.html("/public", PAGE)
    async with Fetcher(CONFIG) as f:
        with pytest.raises(RobotsDisallowed) as info:
            await f.fetch(server.url("/private/a"))
        page = await f.fetch(server.url("/public"))
    assert info.value.error_code == "robots_disallowed"
    assert server.hits["/private/a"] == 0
    assert page.status == 200
    robots_request = next(r for r in server.requests if r.path == "/robots.txt")
    assert robots_request.headers["User-Agent"] == CONFIG.user_agent


async def test_robots_is_fetched_once_per_host_under_concurrency(server):
    async def slow_robots(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # all fetches below arrive while this is in flight
        return web.Response(text="User-agent: *\nDisallow: /no\n")

    server.route("/robots.txt", slow_robots)
    for i in range(10):
        server.html(f"/p{i}", PAGE)
    async with Fetcher(dataclasses.replace(CONFIG, per_host=4)) as f:
        pages = await asyncio.gather(*(f.fetch(server.url(f"/p{i}")) for i in range(10)))
        await f.fetch(server.url("/p0"))
    assert len(pages) == 10
    assert server.hits["/robots.txt"] == 1


async def test_robots_switched_off_is_not_fetched(server):
    server.route("/robots.txt", lambda r: web.Response(text="User-agent: *\nDisallow: /\n"))
    server.html("/a", PAGE)
    async with Fetcher(dataclasses.replace(CONFIG, respect_robots=False)) as f:
        page = await f.fetch(server.url("/a"))
    assert page.status == 200
    assert server.hits["/robots.txt"] == 0


@pytest.mark.parametrize("robots", [
    lambda r: web.Response(status=500, text="broken"),
    lambda r: web.Response(status=404),
    lambda r: web.Response(status=403),
    lambda r: web.Response(status=302, headers={"Location": "http://10.0.0.1/robots.txt"}),
])
async def test_unreachable_robots_allows(server, robots):
    server.route("/robots.txt", robots)
    server.html("/a", PAGE)
    async with Fetcher(CONFIG) as f:
        page = await f.fetch(server.url("/a"))
    assert page.status == 200


async def test_robots_timeout_allows_and_is_cached(server):
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="User-agent: *\nDisallow: /\n")

    server.route("/robots.txt", stall)
    server.html("/a", PAGE)
    async with Fetcher(dataclasses.replace(CONFIG, read_timeout_s=0.1)) as f:
        await f.fetch(server.url("/a"))
        await f.fetch(server.url("/a"))
    assert server.hits["/robots.txt"] == 1 and server.hits["/a"] == 2


async def test_robots_cache_expires_after_ttl(server):
    server.route("/robots.txt", lambda r: web.Response(text="User-agent: *\nDisallow: /no\n"))
    server.html("/a", PAGE)
    async with Fetcher(dataclasses.replace(CONFIG, robots_ttl_s=0.0)) as f:
        await f.fetch(server.url("/a"))
        await f.fetch(server.url("/a"))
    assert server.hits["/robots.txt"] == 2


async def test_robots_applies_to_redirect_targets(server):
    server.route("/robots.txt", lambda r: web.Response(text="User-agent: newswire\nDisallow: /secret\n"))
    server.route("/go", lambda r: web.Response(status=302, headers={"Location": "/secret"}))
    async with Fetcher(CONFIG) as f:
        with pytest.raises(RobotsDisallowed):
            await f.fetch(server.url("/go"))
    assert server.hits["/secret"] == 0


# -- robots.txt rules (RFC 9309) ------------------------------------------------------------


ROBOTS = """
# comment
User-agent: otherbot
Disallow: /

User-agent: *
Disallow: /private
Allow: /private/open
Disallow: /*.pdf$
Disallow: /search?q=

User-agent: NewsWire
User-agent: friend
Disallow: /drafts/   # trailing comment
Allow: /drafts/public
Disallow: /tmp
Allow: /tmp
Disallow: /ünï
"""


def test_product_token():
    assert product_token("newswire/0.1 (+https://github.com/newswire/newswire)") == "newswire"
    assert product_token("Mozilla/5.0 (compatible)") == "mozilla"
    assert product_token("") == "*"


def test_named_group_replaces_star_group():
    rules = RobotsRules.parse(ROBOTS, "newswire/0.1")
    assert not rules.allowed("/drafts/x")
    assert rules.allowed("/drafts/public/y")  # longer Allow wins
    assert rules.allowed("/tmp/a")  # equal length: Allow wins
    assert rules.allowed("/private")  # the * group does not apply to us
    assert not rules.allowed("/%C3%BCn%C3%AF/page")  # non-ASCII pattern matched percent-encoded


def test_star_group_with_wildcards():
    rules = RobotsRules.parse(ROBOTS, "somebot/2")
    assert not rules.allowed("/private/x")
    assert rules.allowed("/private/open/x")
    assert not rules.allowed("/files/report.pdf")
    assert rules.allowed("/files/report.pdf?download=1")  # $ anchors the end
    assert not rules.allowed("/search?q=term")
    assert rules.allowed("/search")
    assert rules.allowed("/")


def test_robots_txt_itself_and_empty_rules_allowed():
    assert RobotsRules.parse("User-agent: *\nDisallow: /\n", "x").allowed("/robots.txt")
    assert RobotsRules.parse("User-agent: *\nDisallow:\n", "x").allowed("/anything")
    assert RobotsRules.parse("", "x").allowed("/anything")
    assert RobotsRules.parse("garbage\x00\nnot robots", "x").allowed("/a")


def test_robots_cache_ttl_and_bound():
    now = [0.0]
    cache = RobotsCache(ttl_s=10, max_entries=2, clock=lambda: now[0])
    rules = RobotsRules()
    cache.put(("http", "a", 80), rules)
    assert cache.get(("http", "a", 80)) is rules
    now[0] = 10.0
    assert cache.get(("http", "a", 80)) is None
    for host in "bcd":
        cache.put(("http", host, 80), rules)
    assert len(cache) == 2 and cache.get(("http", "b", 80)) is None


# -- concurrency limits ------------------------------------------------------------------------


def slow_page(delay_s: float = 0.05):
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.Response(text=PAGE, content_type="text/html")

    return handler


async def test_per_host_limit_is_respected(server):
    server.route("/slow", slow_page())
    config = dataclasses.replace(CONFIG, per_host=2, max_connections=64, respect_robots=False)
    async with Fetcher(config) as f:
        pages = await asyncio.gather(*(f.fetch(server.url(f"/slow?i={i}")) for i in range(12)))
    assert len(pages) == 12
    assert server.max_concurrent == 2  # never more, and the limit was actually reached


async def test_global_limit_across_hosts(server):
    server.route("/slow", slow_page())
    hosts = ["a.example", "b.example", "c.example"]
    resolver = FakeResolver({h: ["127.0.0.1"] for h in hosts})
    config = dataclasses.replace(CONFIG, per_host=2, max_connections=3, respect_robots=False)
    async with Fetcher(config, resolver=resolver) as f:
        await asyncio.gather(*(f.fetch(f"http://{h}:{server.port}/slow?i={i}") for h in hosts for i in range(4)))
    assert server.max_concurrent == 3


async def test_slow_host_does_not_hold_up_others(server):
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text=PAGE, content_type="text/html")

    server.route("/stuck", stuck)
    server.html("/fast", PAGE)
    resolver = FakeResolver({"slow.example": ["127.0.0.1"], "fast.example": ["127.0.0.1"]})
    config = dataclasses.replace(CONFIG, per_host=1, max_connections=2, respect_robots=False)
    async with Fetcher(config, resolver=resolver) as f:
        stuck_tasks = [asyncio.create_task(f.fetch(f"http://slow.example:{server.port}/stuck?i={i}"))
                       for i in range(5)]
        await asyncio.sleep(0.05)
        # Four tasks wait for slow.example's single slot; they must not hold the other global slot.
        page = await asyncio.wait_for(f.fetch(f"http://fast.example:{server.port}/fast"), timeout=5)
        assert not any(t.done() for t in stuck_tasks)
        release.set()
        await asyncio.gather(*stuck_tasks)
    assert page.status == 200


async def test_host_delay_spaces_request_starts(server):
    """The pacing waits go through the injected sleep, so a 10 s delay costs no time here."""
    server.html("/p", PAGE)
    sleep = SleepRecorder()
    config = dataclasses.replace(CONFIG, per_host=4, host_delay_s=10.0, respect_robots=False)
    async with Fetcher(config, sleep=sleep) as f:
        await asyncio.gather(*(f.fetch(server.url(f"/p?i={i}")) for i in range(4)))
    assert server.hits["/p"] == 4
    assert len(sleep.delays) == 3  # the first request goes at once, each later one waits
    assert all(9.0 < delay <= 10.0 for delay in sleep.delays)


async def test_no_delay_means_no_pacing_waits(server):
    server.html("/p", PAGE)
    sleep = SleepRecorder()
    async with Fetcher(dataclasses.replace(CONFIG, per_host=4, respect_robots=False), sleep=sleep) as f:
        await asyncio.gather(*(f.fetch(server.url(f"/p?i={i}")) for i in range(4)))
    assert sleep.delays == []


async def test_host_state_is_forgotten_when_idle(server):
    server.html("/a", PAGE)
    async with Fetcher(dataclasses.replace(CONFIG, respect_robots=False)) as f:
        await asyncio.gather(*(f.fetch(server.url(f"/a?i={i}")) for i in range(5)))
        assert f._hosts == {}  # no per-host state grows without bound over days of new hosts
