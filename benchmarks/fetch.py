"""Fetch-stage benchmark: newswire's Fetcher against a bare aiohttp GET loop.

    python benchmarks/fetch.py [--data DIR] [--urls 500] [--concurrency 1,4,16,64] [--repeat 3] [--gzip]

A local aiohttp server on 127.0.0.1, in its own process so it does not share
the client's event loop, serves the pages of ``DIR/html/*.html.gz``
(decompressed, as text/html; with ``--gzip`` gzip-encoded, as most news sites
send them) and a robots.txt.  For each concurrency it fetches ``--urls`` URLs
(the pages in turn, each with a distinct query string) with

* the baseline: one ``aiohttp.ClientSession`` (connection limit = concurrency),
  ``--concurrency`` tasks doing ``GET`` + ``read()``; no checks of any kind;
* newswire: one :class:`Fetcher` with ``max_connections`` and ``per_host`` set
  to the concurrency (all URLs share one host), robots.txt honoured, every
  safety check on, called from ``--concurrency`` tasks.

Baseline and newswire runs alternate in adjacent pairs (``--repeat`` pairs);
the table gives the median pages/s of each, the median of the per-pair ratios
newswire / baseline, the range of those ratios, and the client's CPU time per
page (the server runs in another process, so it is not counted).  On a shared,
loaded machine the CPU time per page is the steadier of the two figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from workers.pipeline.fetch import FetchConfig, Fetcher  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "extraction-dev"


# -- server (child process) ------------------------------------------------------


def load_pages(data: Path) -> list[bytes]:
    pages = [gzip.decompress(path.read_bytes()) for path in sorted((data / "html").glob("*.html.gz"))]
    if not pages:
        raise SystemExit(f"no pages in {data / 'html'}")
    return pages


def serve(data: str, compress: bool, port_out: multiprocessing.connection.Connection) -> None:
    pages = load_pages(Path(data))
    bodies = [gzip.compress(p, 6) if compress else p for p in pages]
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if compress:
        headers["Content-Encoding"] = "gzip"

    async def page(request: web.Request) -> web.Response:
        index = int(request.match_info["index"]) % len(bodies)
        return web.Response(body=bodies[index], headers=headers)

    async def robots(_request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/robots.txt", robots)
        app.router.add_get("/page/{index}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


# -- clients ----------------------------------------------------------------------


async def drive(urls: list[str], concurrency: int, get: Callable[[str], Awaitable[int]]) -> tuple[float, int]:
    """Fetch every URL with ``concurrency`` workers; returns (seconds, bytes)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    total = 0

    async def worker() -> None:
        nonlocal total
        while True:
            try:
                url = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            size = await get(url)  # not `total += await ...`: that reads total before the await
            total += size

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, total


async def run_baseline(urls: list[str], concurrency: int) -> tuple[float, int]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def get(url: str) -> int:
            async with session.get(url) as resp:
                resp.raise_for_status()
                return len(await resp.read())

        await get(urls[0])  # warm: connection set up as in the newswire run
        return await drive(urls, concurrency, get)


async def run_newswire(urls: list[str], concurrency: int) -> tuple[float, int]:
    config = FetchConfig(max_connections=concurrency, per_host=concurrency, allow_hosts=("127.0.0.1",),
                         respect_robots=True, max_attempts=1)
    async with Fetcher(config) as fetcher:
        async def get(url: str) -> int:
            return len((await fetcher.fetch(url)).body)

        await get(urls[0])  # warm: robots.txt fetched and cached
        return await drive(urls, concurrency, get)


# -- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--urls", type=int, default=500)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--gzip", action="store_true", help="serve the pages gzip-encoded")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(str(args.data), args.gzip, send), daemon=True)
    server.start()
    try:
        port = receive.recv()
        n_pages = len(list((args.data / "html").glob("*.html.gz")))
        urls = [f"http://127.0.0.1:{port}/page/{i % n_pages}?n={i}" for i in range(args.urls)]
        print(f"{args.urls} URLs over {n_pages} pages from 127.0.0.1 ({'gzip' if args.gzip else 'identity'}), "
              f"median of {args.repeat} paired runs; server in a separate process")
        print(f"{'concurrency':>11}  {'baseline p/s':>12}  {'newswire p/s':>12}  {'ratio':>6}  {'ratio range':>11}"
              f"  {'CPU us/page base':>16}  {'newswire':>8}")
        for concurrency in levels:
            rates: dict[str, list[float]] = {"baseline": [], "newswire": []}
            cpu: dict[str, list[float]] = {"baseline": [], "newswire": []}
            ratios = []
            for r in range(args.repeat):
                # Alternate which goes first, and pair adjacent runs: the machine's load drifts.
                order = [("baseline", run_baseline), ("newswire", run_newswire)]
                for name, runner in order if r % 2 == 0 else order[::-1]:
                    cpu_started = time.process_time()
                    seconds, _ = asyncio.run(runner(urls, concurrency))
                    cpu[name].append((time.process_time() - cpu_started) / len(urls) * 1e6)
                    rates[name].append(len(urls) / seconds)
                ratios.append(rates["newswire"][-1] / rates["baseline"][-1])
            print(f"{concurrency:>11}  {statistics.median(rates['baseline']):>12.0f}"
                  f"  {statistics.median(rates['newswire']):>12.0f}"
                  f"  {statistics.median(ratios):>6.2f}  {min(ratios):>5.2f}-{max(ratios):<5.2f}"
                  f"  {statistics.median(cpu['baseline']):>16.0f}  {statistics.median(cpu['newswire']):>8.0f}")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
