"""Polling feeds served from 127.0.0.1: conditional GET, new entries only, sitemaps, failures, backoff."""

from __future__ import annotations

import gzip
import random
from datetime import UTC

import pytest

from tests.unit._httpserver import loopback_only_connections
from workers.feeds.fetch import FeedFetcher
from workers.feeds.model import FeedState, Subscription
from workers.feeds.poller import FeedPoller, PollConfig
from workers.local.feeds import (
    Item,
    ServedFeed,
    atom_document,
    rdf_document,
    rss_document,
    sitemap_document,
    sitemap_index_document,
)
from workers.local.pages import PageServer, Route
from workers.pipeline.fetch import FetchConfig

pytestmark = pytest.mark.timeout(30)

FETCH = FetchConfig(allow_hosts=("127.0.0.1",), connect_timeout_s=2.0, read_timeout_s=2.0, total_timeout_s=5.0,
                    max_attempts=1, backoff_s=0.01)
T0 = 1_790_000_000.0


class Clock:
    def __init__(self, now: float = T0 + 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def items(server: PageServer, start: int, count: int) -> list[Item]:
    """Newest first, like a feed: item i published at T0 + i minutes."""
    return [Item(server.url(f"/news/{i}"), f"Story {i}", T0 + 60 * i) for i in reversed(range(start, start + count))]


@pytest.fixture
def server():
    with loopback_only_connections(), PageServer() as srv:
        yield srv


@pytest.fixture
async def fetcher():
    async with FeedFetcher(FETCH) as f:
        yield f


def poller_for(fetcher: FeedFetcher, clock: Clock | None = None, **config) -> FeedPoller:
    return FeedPoller(fetcher, PollConfig(**config), clock=clock or Clock(), rng=random.Random(7))


async def test_unchanged_feed_costs_one_conditional_request_answered_304(server, fetcher):
    feed = ServedFeed(rss_document("World", items(server, 0, 3)))
    sub = Subscription.create(server.add("/rss.xml", feed), interval_s=60)
    poller = poller_for(fetcher)

    first = await poller.poll(sub)
    assert first.outcome == "ok"
    assert [e.title for e in first.new_entries] == ["Story 0", "Story 1", "Story 2"]  # oldest first
    assert feed.requests == 1 and feed.conditional == 0
    assert first.state.etag == feed.etag and first.state.last_modified == feed.last_modified

    second = await poller.poll(sub, first.state)
    assert second.outcome == "not_modified"
    assert second.new_entries == []
    assert feed.requests == 2 and feed.conditional == 1 and feed.not_modified == 1
    assert second.state.not_modified == 1 and second.state.polls == 2
    assert second.requests == 1 and second.bytes == 0


async def test_only_the_new_entries_are_returned_after_the_feed_changes(server, fetcher):
    feed = ServedFeed(rss_document("World", items(server, 0, 5)))
    sub = Subscription.create(server.add("/rss.xml", feed), interval_s=60)
    poller = poller_for(fetcher)
    state = (await poller.poll(sub)).state

    feed.update(rss_document("World", items(server, 2, 5)))  # 0, 1 drop out; 5, 6 are new
    result = await poller.poll(sub, state)
    assert result.outcome == "ok"
    assert [e.url for e in result.new_entries] == [server.url("/news/5"), server.url("/news/6")]
    assert [e.title for e in result.new_entries] == ["Story 5", "Story 6"]
    assert result.new_entries[-1].published == "2026-09-21T14:19:20Z"
    assert result.state.items_seen == 7
    assert result.state.newest_published == "2026-09-21T14:19:20Z"
    assert feed.conditional == 1  # the second request carried the validators


@pytest.mark.parametrize("document, content_type", [
    (atom_document, "application/atom+xml"),
    (rdf_document, "application/rdf+xml"),
])
async def test_atom_and_rdf_feeds(server, fetcher, document, content_type):
    feed = ServedFeed(document("World", items(server, 0, 2)), content_type)
    sub = Subscription.create(server.add("/feed", feed))
    poller = poller_for(fetcher)
    first = await poller.poll(sub)
    assert [e.url for e in first.new_entries] == [server.url("/news/0"), server.url("/news/1")]
    feed.update(document("World", items(server, 0, 3)))
    second = await poller.poll(sub, first.state)
    assert [e.url for e in second.new_entries] == [server.url("/news/2")]


async def test_sitemap_index_with_a_gzipped_news_sitemap(server, fetcher):
    news = ServedFeed(gzip.compress(sitemap_document(items(server, 0, 3))), "application/x-gzip")
    news_url = server.add("/sitemaps/news.xml.gz", news)
    index = ServedFeed(sitemap_index_document([(news_url, T0)]), "application/xml")
    sub = Subscription.create(server.add("/sitemap.xml", index))
    poller = poller_for(fetcher)

    first = await poller.poll(sub)
    assert first.outcome == "ok", first.state.last_error
    assert [(e.url, e.title) for e in first.new_entries] == [(server.url(f"/news/{i}"), f"Story {i}") for i in range(3)]
    assert first.new_entries[0].published == "2026-09-21T14:13:20Z"
    assert first.requests == 2

    # Unchanged: the index answers 304 and its child (with a lastmod) is not requested at all.
    second = await poller.poll(sub, first.state)
    assert second.outcome == "not_modified" and second.requests == 1
    assert news.requests == 1

    # The child changes and the index says so: the child is fetched (conditionally) again.
    news.update(gzip.compress(sitemap_document(items(server, 0, 5))))
    index.update(sitemap_index_document([(news_url, T0 + 600)]))
    third = await poller.poll(sub, second.state)
    assert [e.url for e in third.new_entries] == [server.url("/news/3"), server.url("/news/4")]
    assert news.requests == 2 and news.conditional == 1


async def test_child_sitemap_without_lastmod_is_rechecked_conditionally(server, fetcher):
    child = ServedFeed(sitemap_document(items(server, 0, 1)), "application/xml")
    child_url = server.add("/sitemaps/a.xml", child)
    index = ServedFeed(sitemap_index_document([(child_url, None)]), "application/xml")
    sub = Subscription.create(server.add("/sitemap.xml", index))
    poller = poller_for(fetcher)
    state = (await poller.poll(sub)).state
    child.update(sitemap_document(items(server, 0, 2)))
    result = await poller.poll(sub, state)  # the index itself is unchanged (304)
    assert [e.url for e in result.new_entries] == [server.url("/news/1")]
    assert index.not_modified == 1 and child.conditional == 1


async def test_malformed_feed_fails_with_a_clear_status_and_backs_off(server, fetcher):
    url = server.add("/broken.xml", Route(200, "application/rss+xml", b"<rss version='2.0'><channel><item><ti"))
    sub = Subscription.create(url, interval_s=60)
    clock = Clock()
    poller = poller_for(fetcher, clock, backoff_max_s=600)

    first = await poller.poll(sub)
    assert first.outcome == "feed_malformed" and first.failed
    assert first.state.last_status == "feed_malformed"
    assert "malformed" in first.state.last_error
    assert first.state.failures == 1
    assert 120 <= first.state.backoff_until - clock.now <= 132  # interval * 2**1, plus jitter
    assert poller.due_at(sub, first.state) == first.state.backoff_until

    second = await poller.poll(sub, first.state)
    assert second.state.failures == 2
    assert 240 <= second.state.backoff_until - clock.now <= 264
    for _ in range(5):
        second = await poller.poll(sub, second.state)
    assert second.state.backoff_until - clock.now <= 600 * 1.1  # capped

    server.add("/broken.xml", ServedFeed(rss_document("ok", items(server, 0, 1))))
    healed = await poller.poll(sub, second.state)
    assert healed.outcome == "ok" and healed.state.failures == 0 and healed.state.last_error is None
    assert len(healed.new_entries) == 1


async def test_fetch_failures_become_statuses(server):
    server.add("/robots.txt", Route(200, "text/plain", b"User-agent: *\nDisallow: /private/\n"))
    server.add("/private/feed.xml", ServedFeed(rss_document("x", [])))
    async with FeedFetcher(FETCH) as fetcher:
        poller = poller_for(fetcher)
        missing = await poller.poll(Subscription.create(server.url("/missing.xml")))
        robots = await poller.poll(Subscription.create(server.url("/private/feed.xml")))
        html = await poller.poll(Subscription.create(server.add("/page", Route(body=b"<html><body>hi</body></html>"))))
    assert (missing.outcome, robots.outcome, html.outcome) == ("http_404", "robots_disallowed", "not_a_feed")
    assert server.hits.get("/private/feed.xml") is None


async def test_feed_on_a_private_address_is_blocked_without_allow_list(server):
    url = server.add("/rss.xml", ServedFeed(rss_document("x", items(server, 0, 1))))
    async with FeedFetcher(FetchConfig(max_attempts=1)) as fetcher:
        result = await poller_for(fetcher).poll(Subscription.create(url))
    assert result.outcome == "blocked_address"
    assert server.hits.get("/rss.xml") is None


async def test_entries_far_older_than_the_newest_seen_are_not_resubmitted(server, fetcher):
    feed = ServedFeed(rss_document("World", items(server, 0, 2)))
    sub = Subscription.create(server.add("/rss.xml", feed))
    poller = poller_for(fetcher, backdate_grace_s=3600)
    state = (await poller.poll(sub)).state
    old = Item(server.url("/news/archive"), "Archive", T0 - 86400)  # a day older than the newest
    recent = Item(server.url("/news/late"), "Late", T0 - 60)  # within the grace period
    feed.update(rss_document("World", items(server, 0, 2) + [recent, old]))
    result = await poller.poll(sub, state)
    assert [e.url for e in result.new_entries] == [server.url("/news/late")]


async def test_a_feed_longer_than_the_window_does_not_resubmit_its_tail(server, fetcher):
    feed = ServedFeed(rss_document("Long", [Item(server.url(f"/n/{i}"), str(i), 0) for i in range(10)]))
    sub = Subscription.create(server.add("/rss.xml", feed))
    poller = poller_for(fetcher, max_seen=4)
    first = await poller.poll(sub)
    assert len(first.new_entries) == 4  # only the window is considered
    feed.update(feed.body + b" ")  # same entries, new ETag: a full fetch
    second = await poller.poll(sub, first.state)
    assert second.outcome == "ok" and second.new_entries == []


async def test_schedule_has_jitter_and_a_shorter_interval_applies_at_once(fetcher):
    clock = Clock()
    poller = poller_for(fetcher, clock, jitter=0.1, first_poll_spread_s=30)
    sub = Subscription.create("https://news.example/rss.xml", interval_s=600)
    firsts = [poller.new_state(sub).next_poll_at - clock.now for _ in range(50)]
    assert all(0 <= d <= 30 for d in firsts) and len(set(firsts)) > 40  # spread, not lockstep
    state = FeedState(url=sub.url, last_poll_at=clock.now, next_poll_at=clock.now + 650)
    assert poller.due_at(sub, state) == clock.now + 650
    faster = Subscription.create(sub.url, interval_s=60)
    assert poller.due_at(faster, state) == pytest.approx(clock.now + 66)


async def test_submitted_entry_urls_are_canonical(server, fetcher):
    doc = rss_document("World", [Item(server.url("/news/a?utm_source=rss&id=1#comments"), "A", T0),
                                 Item(server.url("/news/a?id=1"), "A again", T0)])
    sub = Subscription.create(server.add("/rss.xml", ServedFeed(doc)))
    result = await poller_for(fetcher).poll(sub)
    assert [e.url for e in result.new_entries] == [server.url("/news/a?id=1")]


async def test_poll_metrics_count_outcomes_304s_new_items_failures_and_lag(server, fetcher):
    from datetime import datetime

    from prometheus_client import CollectorRegistry

    from workers.feeds.metrics import FEED_METRICS, FeedMetrics
    from workers.observability.metrics import METRICS

    assert METRICS.registry.get_sample_value("newswire_feed_new_items_total") is not None  # on /metrics
    metrics = FeedMetrics(CollectorRegistry())
    feed = ServedFeed(rss_document("World", items(server, 0, 2)))
    sub = Subscription.create(server.add("/rss.xml", feed))
    poller = poller_for(fetcher)
    first = await poller.poll(sub)
    submitted_at = datetime.fromtimestamp(T0 + 60 + 90, UTC)  # newest entry published at T0 + 60
    metrics.observe_poll(first, now=submitted_at)
    metrics.observe_poll(await poller.poll(sub, first.state))
    broken = await poller.poll(Subscription.create(server.url("/missing.xml")))
    metrics.observe_poll(broken)

    def value(name: str, **labels: str) -> float:
        for family in metrics.polls.collect() + metrics.new_items.collect() + metrics.not_modified.collect() \
                + metrics.failures.collect() + metrics.lag.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        raise AssertionError(name)

    assert value("newswire_feed_polls_total", outcome="ok") == 1
    assert value("newswire_feed_polls_total", outcome="not_modified") == 1
    assert value("newswire_feed_polls_total", outcome="failed") == 1
    assert value("newswire_feed_failures_total", reason="http_404") == 1
    assert value("newswire_feed_not_modified_total") == 1
    assert value("newswire_feed_new_items_total") == 2
    assert value("newswire_feed_lag_seconds_sum") == 90.0
    assert FEED_METRICS is not metrics
