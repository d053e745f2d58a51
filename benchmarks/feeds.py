"""Feed polling benchmark: one polling cycle over many locally served feeds.

    python benchmarks/feeds.py [--feeds 1000] [--items 20] [--changed 10] [--cycles 3] [--concurrency 32]

A local aiohttp server on 127.0.0.1, in its own process (its CPU is not
counted), serves ``--feeds`` RSS 2.0 feeds of ``--items`` entries each, with
``ETag`` / ``Last-Modified`` and ``304 Not Modified`` for conditional requests,
plus a robots.txt.  Before each warm cycle, ``--changed`` feeds get two new
entries; the others are unchanged.

Measured, for the same feeds in the same run:

* newswire: :class:`FeedPoller` over :class:`FeedFetcher` (robots.txt, SSRF
  checks and all), ``--concurrency`` polls in flight like a worker's timer;
  a cold cycle (first poll of every feed) and ``--cycles`` warm cycles;
* baseline: what a naive poller does every cycle: an unconditional GET of each
  feed with a bare ``aiohttp`` session and a feedparser parse of every body.

Per cycle: duration, requests per feed, body bytes received, client CPU time,
and new entries found; the last lines give the warm cycle / baseline ratios
(medians over the warm cycles).  The fetcher's per-host limit is raised to the
concurrency because every feed here shares one host, which real feeds do not.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import feedparser
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from workers.feeds.fetch import FeedFetcher
from workers.feeds.model import FeedState, Subscription
from workers.feeds.poller import FeedPoller, PollConfig
from workers.local.feeds import Item, rss_document
from workers.pipeline.fetch import FetchConfig

T0 = 1_790_000_000.0


# -- server (child process) ---------------------------------------------------------


class Feeds:
    def __init__(self, base: str, count: int, items: int) -> None:
        self.base = base
        self.items = items
        self.sizes = [items] * count
        self.docs: list[tuple[bytes, str, str]] = [self._render(i) for i in range(count)]
        self.requests = 0
        self.robots = 0
        self.not_modified = 0
        self.body_bytes = 0

    def _render(self, feed: int) -> tuple[bytes, str, str]:
        n = self.sizes[feed]
        items = [Item(f"{self.base}/news/{feed}/{j}", f"Story {j} of feed {feed}", T0 + 60 * j)
                 for j in reversed(range(n - self.items, n))]
        body = rss_document(f"Feed {feed}", items)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        return body, etag, email.utils.formatdate(T0 + 60 * n, usegmt=True)

    def change(self, feeds: list[int]) -> None:
        for feed in feeds:
            self.sizes[feed] += 2
            self.docs[feed] = self._render(feed)


def serve(count: int, items: int, port_out) -> None:
    async def main() -> None:
        state: dict[str, Feeds] = {}

        async def feed(request: web.Request) -> web.Response:
            feeds = state["feeds"]
            feeds.requests += 1
            body, etag, last_modified = feeds.docs[int(request.match_info["n"])]
            headers = {"ETag": etag, "Last-Modified": last_modified}
            if request.headers.get("If-None-Match") == etag:
                feeds.not_modified += 1
                return web.Response(status=304, headers=headers)
            feeds.body_bytes += len(body)
            return web.Response(body=body, content_type="application/rss+xml", headers=headers)

        async def change(request: web.Request) -> web.Response:
            state["feeds"].change([int(n) for n in request.query["feeds"].split(",") if n])
            return web.json_response({})

        async def stats(request: web.Request) -> web.Response:
            feeds = state["feeds"]
            return web.json_response({"requests": feeds.requests + feeds.robots, "not_modified": feeds.not_modified,
                                      "body_bytes": feeds.body_bytes})

        app = web.Application()
        app.router.add_get("/feeds/{n}.xml", feed)
        async def robots(request: web.Request) -> web.Response:
            state["feeds"].robots += 1
            return web.Response(text="User-agent: *\nAllow: /\n")

        app.router.add_get("/robots.txt", robots)
        app.router.add_get("/_change", change)
        app.router.add_get("/_stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state["feeds"] = Feeds(f"http://127.0.0.1:{port}", count, items)
        port_out.send(port)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- client ---------------------------------------------------------------------------


@dataclass
class Cycle:
    name: str
    seconds: float
    cpu_s: float
    requests: int
    body_bytes: int
    new_entries: int
    not_modified: int


async def server_stats(session: aiohttp.ClientSession, base: str) -> dict:
    async with session.get(f"{base}/_stats") as resp:
        return await resp.json()


async def measure(name: str, session: aiohttp.ClientSession, base: str, run) -> Cycle:
    before = await server_stats(session, base)
    cpu, wall = time.process_time(), time.perf_counter()
    new_entries = await run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = await server_stats(session, base)
    return Cycle(name, wall, cpu, after["requests"] - before["requests"], after["body_bytes"] - before["body_bytes"],
                 new_entries, after["not_modified"] - before["not_modified"])


async def run(args: argparse.Namespace) -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.feeds, args.items, child), daemon=True)
    server.start()
    port = parent.recv()
    base = f"http://127.0.0.1:{port}"
    urls = [f"{base}/feeds/{i}.xml" for i in range(args.feeds)]
    subs = [Subscription.create(url, interval_s=600) for url in urls]
    config = FetchConfig(allow_hosts=("127.0.0.1",), max_connections=args.concurrency, per_host=args.concurrency,
                         max_attempts=1)
    states: dict[str, FeedState | None] = {sub.url: None for sub in subs}
    limit = asyncio.Semaphore(args.concurrency)
    cycles: list[Cycle] = []
    baselines: list[Cycle] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session, \
                FeedFetcher(config) as fetcher:
            poller = FeedPoller(fetcher, PollConfig())

            async def poll_all() -> int:
                async def one(sub: Subscription) -> int:
                    async with limit:
                        result = await poller.poll(sub, states[sub.url])
                    assert not result.failed, (sub.url, result.outcome, result.state.last_error)
                    states[sub.url] = result.state
                    return len(result.new_entries)
                return sum(await asyncio.gather(*(one(sub) for sub in subs)))

            async def naive_all() -> int:
                async def one(url: str) -> int:
                    async with limit, session.get(url) as resp:
                        body = await resp.read()
                    return len(feedparser.parse(body).entries)
                return sum(await asyncio.gather(*(one(url) for url in urls)))

            cycles.append(await measure("newswire cold", session, base, poll_all))
            for c in range(args.cycles):
                changed = [(c * args.changed + k * 7) % args.feeds for k in range(args.changed)]
                async with session.get(f"{base}/_change", params={"feeds": ",".join(map(str, changed))}):
                    pass
                baselines.append(await measure("baseline (full GET + parse)", session, base, naive_all))
                cycles.append(await measure(f"newswire warm {c + 1}", session, base, poll_all))
    finally:
        server.terminate()

    n = args.feeds
    print(f"{n} feeds of {args.items} items, {args.changed} changed (2 new entries each) before each warm cycle, "
          f"{args.concurrency} polls in flight\n")
    print("req/feed counts every request, robots.txt included; KiB are response bodies\n")
    print(f"{'cycle':<28}{'seconds':>9}{'req/feed':>10}{'304s':>7}{'KiB':>10}{'CPU s':>8}{'CPU ms/feed':>13}"
          f"{'new':>7}")
    for cycle in [cycles[0], *[x for pair in zip(baselines, cycles[1:], strict=True) for x in pair]]:
        print(f"{cycle.name:<28}{cycle.seconds:>9.2f}{cycle.requests / n:>10.3f}{cycle.not_modified:>7}"
              f"{cycle.body_bytes / 1024:>10.1f}{cycle.cpu_s:>8.2f}{1000 * cycle.cpu_s / n:>13.3f}"
              f"{cycle.new_entries:>7}")
    warm = cycles[1:]

    def ratio(attr: str) -> float:
        return statistics.median(getattr(w, attr) / max(getattr(b, attr), 1e-9)
                                 for w, b in zip(warm, baselines, strict=True))

    print(f"\nwarm cycle / baseline (median of {len(warm)}): duration {ratio('seconds'):.2f}x, "
          f"CPU {ratio('cpu_s'):.2f}x, bytes {ratio('body_bytes'):.3f}x")
    expected = 2 * args.changed
    print(f"new entries per warm cycle: {[w.new_entries for w in warm]} (expected {expected} each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
