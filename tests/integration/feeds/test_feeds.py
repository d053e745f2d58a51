"""Feeds on the real broker: CLI subscriptions, worker polling, new items only, two workers, removal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from itertools import pairwise

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from tests.helpers.kafka import collect, unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.local.feeds import Item, ServedFeed, rss_document
from workers.local.pages import PageServer, Route

pytestmark = pytest.mark.timeout(400)

INTERVAL_S = 2.0
T0 = 1_790_000_000.0
PAGE = """<html lang="en"><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>The council of {place} approved the new harbour plan on Monday after a long public consultation, officials said.</p>
<p>Work on the quays of {place} is due to start in the spring and should take about two years to finish.</p>
<p>Residents of {place} will be able to follow the progress of the works on a website run by the council.</p>
</article></body></html>"""
PLACES = ["Portsmouth", "Aberdeen", "Plymouth", "Dover", "Hull", "Cardiff", "Belfast", "Leith"]


NEWSWIRE = [sys.executable, "-m", "workers"]


def newswire(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*NEWSWIRE, *args], env={**os.environ, **env}, capture_output=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result


@pytest.fixture
def feed_env(kafka_bootstrap):
    tag = uuid.uuid4().hex[:8]
    return unique_topics_env(kafka_bootstrap, NEWSWIRE_FEEDS_TOPIC=f"f{tag}.feeds",
                             NEWSWIRE_FEEDS_STATUS_TOPIC=f"f{tag}.feeds.status", NEWSWIRE_FEEDS_TICK_S="0.25",
                             NEWSWIRE_ENTITIES_ENABLED="false")


@pytest.fixture
def site():
    with PageServer() as server:
        yield server


def add_articles(server: PageServer, start: int, count: int) -> list[Item]:
    """Article pages plus their feed items, newest first."""
    items = []
    for i in range(start, start + count):
        title = f"Harbour plan approved in {PLACES[i % len(PLACES)]} (part {i})"
        url = server.add_page(f"/news/{i}", PAGE.format(title=title, place=PLACES[i % len(PLACES)]))
        items.append(Item(url, title, T0 + 60 * i))
    return list(reversed(items))


async def wait_for(predicate, timeout: float, what: str, step: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


async def read_topic(bootstrap: str, topic: str, *, at_least: int = 0, timeout: float = 60.0,
                     settle_s: float = 2.0) -> list[tuple[bytes, bytes | None]]:
    """Every committed message of ``topic`` from the beginning: at least ``at_least`` of them
    (or whatever came within ``timeout``), then whatever else arrives until ``settle_s``
    pass without a message (so a duplicate written late is still seen)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, metadata_max_age_ms=1000,
                                isolation_level="read_committed")
    await consumer.start()
    found: list[tuple[bytes, bytes | None]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(settle_s * 1000))
            if not batch and (len(found) >= at_least or time.monotonic() > deadline):
                return found
            for messages in batch.values():
                found.extend((m.key, m.value) for m in messages)
    finally:
        await consumer.stop()


def submitted_urls(messages: list[tuple[bytes, bytes | None]]) -> list[str]:
    return [orjson.loads(value)["url"] for _, value in messages if value]


async def test_feed_is_followed_new_items_submitted_once_and_removal_stops_polling(
        kafka_bootstrap, feed_env, site, tmp_path):
    env = feed_env
    feed = ServedFeed(rss_document("Harbour news", add_articles(site, 0, 3)))
    feed_url = site.add("/feeds/harbour.xml", feed)
    worker = WorkerProcess(env, tmp_path).start()
    try:
        worker.wait_ready()
        newswire(env, "feeds", "add", feed_url, "--every", f"{INTERVAL_S:g}s", "--source", "harbour-test")

        # The three entries arrive once, as JSON submissions from the feed; later polls are 304s.
        await wait_for(lambda: feed.not_modified >= 2, 90, "two unchanged polls answered 304")
        urls = submitted_urls(await read_topic(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], at_least=3))
        assert sorted(urls) == sorted(site.url(f"/news/{i}") for i in range(3)), urls
        assert feed.conditional >= 2
        message = orjson.loads((await read_topic(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"]))[0][1])
        assert message["source"] == feed_url
        assert set(message["metadata"]) >= {"title", "published"}

        # The resulting articles carry the feed's source, title and publication date.
        articles_topic = env["NEWSWIRE_ARTICLES_TOPIC"]
        found = await collect(kafka_bootstrap, [articles_topic], until=lambda f: len(f[articles_topic]) >= 3,
                              timeout=180)
        records = {v["url"]: v for _, v, _ in found[articles_topic]}
        assert len(records) == 3, worker.log_tail()
        first = records[site.url("/news/0")]
        assert first["source"] == feed_url
        assert first["feed_title"] == "Harbour plan approved in Portsmouth (part 0)"
        assert first["feed_published"] == "2026-09-21T14:13:20Z"

        # Two new entries: exactly those two are submitted at the next poll.
        feed.update(rss_document("Harbour news", add_articles(site, 0, 5)))
        unchanged = feed.not_modified
        await wait_for(lambda: feed.not_modified >= unchanged + 2, 60, "two unchanged polls after the update")
        urls = submitted_urls(await read_topic(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"], at_least=5))
        assert len(urls) == 5 and len(set(urls)) == 5, urls
        assert sorted(set(urls) - {site.url(f"/news/{i}") for i in range(3)}) == [site.url("/news/3"),
                                                                                 site.url("/news/4")]

        # `feeds list` shows the poll history the worker published.
        listed = [orjson.loads(line) for line in newswire(env, "feeds", "list", "--json").stdout.splitlines()]
        assert [f["url"] for f in listed] == [feed_url]
        status = listed[0]["status"]
        assert listed[0]["source"] == "harbour-test" and listed[0]["interval_s"] == INTERVAL_S
        assert status["items_seen"] == 5 and status["last_status"] in ("ok", "not_modified")
        assert status["last_poll_at"] > 0 and status["not_modified"] >= 3
        table = newswire(env, "feeds", "list").stdout.decode()
        assert feed_url in table and "harbour-test" in table

        # The worker's /metrics has the feed metrics.
        status_code, body = worker.get("/metrics")
        metrics = body.decode()
        assert status_code == 200
        assert 'newswire_feed_polls_total{outcome="not_modified"}' in metrics
        assert "newswire_feed_new_items_total 5.0" in metrics
        assert "newswire_feed_lag_seconds_count" in metrics and "newswire_feeds_owned 1.0" in metrics

        # Removal: the worker drops the feed (and says so with a status tombstone); polling stops.
        newswire(env, "feeds", "remove", feed_url)
        status_topic = env["NEWSWIRE_FEEDS_STATUS_TOPIC"]
        deadline = time.monotonic() + 60
        while not any(v is None for _, v in await read_topic(kafka_bootstrap, status_topic, settle_s=1.0)):
            assert time.monotonic() < deadline, "the worker did not drop the removed feed"
        polls_at_removal = feed.requests
        await asyncio.sleep(3 * INTERVAL_S)
        assert feed.requests == polls_at_removal
        assert newswire(env, "feeds", "list", "--json").stdout == b""
        assert worker.proc.poll() is None
    finally:
        worker.terminate()


def _partition(key: str, partitions: int) -> int:
    return DefaultPartitioner()(key.encode(), list(range(partitions)), list(range(partitions)))


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_two_workers_share_the_feeds_poll_each_once_per_interval_and_hand_over(
        kafka_bootstrap, feed_env, site, tmp_path, guarantee):
    env = {**feed_env, "NEWSWIRE_PROCESSING_GUARANTEE": guarantee}
    partitions = int(env["NEWSWIRE_TOPIC_PARTITIONS"])
    feeds: dict[str, ServedFeed] = {}
    covered: set[int] = set()
    i = 0
    while len(feeds) < 6 or len(covered) < partitions:  # feeds in every partition, so both workers get some
        served = ServedFeed(rss_document(f"Feed {i}", [Item(site.url(f"/a/{i}/{j}"), f"{i}-{j}", T0 + j)
                                                       for j in range(2)]))
        url = site.add(f"/feeds/{i}.xml", served)
        feeds[url] = served
        covered.add(_partition(url, partitions))
        i += 1
    user_agents: dict[str, list[str]] = {url: [] for url in feeds}
    for url, served in feeds.items():
        original = served.__call__

        def recording(handler, url=url, original=original):
            user_agents[url].append(handler.headers.get("User-Agent", ""))
            original(handler)

        site.add(url.removeprefix(site.base_url), recording)

    workers = [WorkerProcess({**env, "NEWSWIRE_FETCH_USER_AGENT": f"newswire-test/{name}"}, tmp_path, name)
               for name in ("w1", "w2")]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        await asyncio.sleep(3)  # let the group settle before the feeds arrive
        newswire(env, "feeds", "add", *feeds, "--every", f"{INTERVAL_S:g}s")
        await wait_for(lambda: all(f.requests >= 4 for f in feeds.values()), 120, "four polls of every feed")

        pollers = {url: set(agents) for url, agents in user_agents.items()}
        assert all(len(agents) == 1 for agents in pollers.values()), pollers  # one worker per feed
        assert set().union(*pollers.values()) == {"newswire-test/w1", "newswire-test/w2"}  # both poll
        for url, served in feeds.items():
            gaps = [b - a for a, b in pairwise(served.request_times)]
            assert min(gaps) >= 0.5 * INTERVAL_S, (url, gaps)  # never twice within an interval

        urls = submitted_urls(await read_topic(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"],
                                               at_least=2 * len(feeds)))
        assert len(urls) == 2 * len(feeds) and len(set(urls)) == len(urls)

        # One worker leaves: the other takes its feeds over with their state (no resubmission),
        # and a new entry in every feed is submitted exactly once.
        workers[0].terminate()
        polls = {url: served.requests for url, served in feeds.items()}
        await wait_for(lambda: all(f.requests >= polls[u] + 2 for u, f in feeds.items()), 120,
                       "two polls of every feed after the first worker left")
        assert {agents[-1] for agents in user_agents.values()} == {"newswire-test/w2"}
        for n, (_, served) in enumerate(feeds.items()):
            served.update(rss_document(f"Feed {n}", [Item(site.url(f"/a/{n}/{j}"), f"{n}-{j}", T0 + j)
                                                     for j in range(3)]))
        unchanged = {url: served.not_modified for url, served in feeds.items()}
        await wait_for(lambda: all(f.not_modified >= unchanged[u] + 1 for u, f in feeds.items()), 120,
                       "an unchanged poll of every feed after the new entries")
        urls = submitted_urls(await read_topic(kafka_bootstrap, env["NEWSWIRE_INPUT_TOPIC"],
                                               at_least=3 * len(feeds)))
        assert len(urls) == 3 * len(feeds) and len(set(urls)) == len(urls), sorted(urls)
    finally:
        for worker in workers:
            worker.terminate()


def test_discover_adds_a_sites_feeds_and_sitemaps(feed_env, site):
    env = feed_env
    site.add_page("/", '<html><head><title>Harbour news</title>'
                       '<link rel="alternate" type="application/rss+xml" title="Harbour" href="/feeds/harbour.xml">'
                       '<link rel="alternate" type="application/atom+xml" href="/feeds/harbour.atom"></head></html>')
    site.add("/robots.txt", Route(200, "text/plain", b"User-agent: *\nAllow: /\nSitemap: /news-sitemap.xml\n"))
    out = newswire(env, "feeds", "add", "--discover", site.url("/"), "--every", "5m", "--source", "harbour")
    assert b"found rss" in out.stderr and b"robots.txt" in out.stderr
    listed = {f["url"]: f for f in map(orjson.loads, newswire(env, "feeds", "list", "--json").stdout.splitlines())}
    assert {url: (f["kind"], f["interval_s"], f["source"], f["status"]["last_status"])
            for url, f in listed.items()} == {
        site.url("/feeds/harbour.xml"): ("rss", 300.0, "harbour", "new"),
        site.url("/feeds/harbour.atom"): ("atom", 300.0, "harbour", "new"),
        site.url("/news-sitemap.xml"): ("sitemap", 300.0, "harbour", "new"),
    }
    nothing = subprocess.run([*NEWSWIRE, "feeds", "add", "--discover", "http://127.0.0.1:1/"],
                             env={**os.environ, **env}, capture_output=True, check=False, timeout=120)
    assert nothing.returncode == 1 and b"no feeds found" in nothing.stderr
