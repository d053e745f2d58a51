"""Feeds ask for a refresh: an entry whose updated/lastmod moved past its last submission is submitted again."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.unit.feeds.test_agents import runner  # noqa: F401  (fixture)
from tests.unit.feeds.test_poller import T0, Clock, fetcher, poller_for, server  # noqa: F401  (fixtures)
from workers.feeds.model import FeedState, Subscription
from workers.feeds.parse import parse_feed
from workers.local.feeds import ServedFeed
from workers.local.pages import Route

pytestmark = pytest.mark.timeout(30)


def w3c(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def atom(entries: list[tuple[str, float, float]]) -> bytes:
    """(link, published, updated) per entry."""
    body = "".join(f'<entry><title>t</title><link rel="alternate" href="{link}"/><id>{link}</id>'
                   f"<published>{w3c(published)}</published><updated>{w3c(updated)}</updated></entry>"
                   for link, published, updated in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>'
            f"<id>urn:f</id><updated>{w3c(T0)}</updated>{body}</feed>").encode()


def sitemap(entries: list[tuple[str, float]]) -> bytes:
    body = "".join(f"<url><loc>{link}</loc><lastmod>{w3c(lastmod)}</lastmod></url>" for link, lastmod in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{body}</urlset>").encode()


def test_updated_and_lastmod_are_parsed_apart_from_published():
    [entry] = parse_feed(atom([("https://e.com/a", T0, T0 + 600)]), base_url="https://e.com/",
                         content_type="application/atom+xml").entries
    assert (entry.published, entry.updated) == (w3c(T0), w3c(T0 + 600))
    [entry] = parse_feed(sitemap([("https://e.com/a", T0 + 60)]), base_url="https://e.com/",
                         content_type="application/xml").entries
    assert entry.updated == w3c(T0 + 60)
    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title><item><title>t</title>'
           b"<link>https://e.com/a</link><pubDate>Mon, 21 Sep 2026 14:13:20 GMT</pubDate></item></channel></rss>")
    [entry] = parse_feed(rss, base_url="https://e.com/", content_type="application/rss+xml").entries
    assert entry.updated is None  # RSS has no update date: never refreshed by the feed


async def test_an_entry_updated_after_its_submission_is_refreshed_once(server, fetcher):  # noqa: F811
    a, b = server.url("/news/a"), server.url("/news/b")
    clock = Clock(T0 + 3600)
    feed = ServedFeed(atom([(a, T0, T0), (b, T0, T0)]), "application/atom+xml")
    sub = Subscription.create(server.add("/feed.xml", feed))
    poller = poller_for(fetcher, clock)

    first = await poller.poll(sub)
    assert {e.url for e in first.new_entries} == {a, b} and first.refreshed_entries == []

    # b is updated after it was submitted: refreshed; a's unchanged date is not.
    clock.now += 600
    feed.update(atom([(a, T0, T0), (b, T0, clock.now - 60)]))
    second = await poller.poll(sub, first.state)
    assert second.new_entries == [] and [e.url for e in second.refreshed_entries] == [b]

    # Listed again with the same date: not refreshed a second time.
    clock.now += 600
    feed.update(atom([(a, T0, T0), (b, T0, clock.now - 660), (server.url("/news/c"), T0, T0)]))
    third = await poller.poll(sub, second.state)
    assert third.refreshed_entries == []

    # The marks survive the state's JSON round trip (the state table's changelog).
    state = FeedState.from_json(third.state.to_json())
    clock.now += 600
    feed.update(atom([(a, T0, clock.now - 10), (b, T0, T0)]))
    fourth = await poller.poll(sub, state)
    assert [e.url for e in fourth.refreshed_entries] == [a]


async def test_an_update_dated_before_the_submission_is_not_a_refresh(server, fetcher):  # noqa: F811
    a = server.url("/news/a")
    clock = Clock(T0 + 3600)
    feed = ServedFeed(sitemap([(a, T0)]), "application/xml")
    sub = Subscription.create(server.add("/sitemap.xml", feed))
    poller = poller_for(fetcher, clock)
    first = await poller.poll(sub)
    clock.now += 600
    feed.update(sitemap([(a, T0 + 1800)]))  # modified, but before we submitted it (T0 + 3600)
    second = await poller.poll(sub, first.state)
    assert second.refreshed_entries == []


async def test_a_future_date_refreshes_at_most_once(server, fetcher):  # noqa: F811
    a = server.url("/news/a")
    clock = Clock(T0 + 3600)
    # Served without validators: every poll gets the whole document (no 304 hides the entry).
    url = server.add("/sitemap.xml", Route(200, "application/xml", sitemap([(a, T0)])))
    sub = Subscription.create(url)
    poller = poller_for(fetcher, clock)
    state = (await poller.poll(sub)).state
    server.add("/sitemap.xml", Route(200, "application/xml", sitemap([(a, T0 + 10 * 86400)])))  # a wrong clock
    refreshed = []
    for _ in range(3):
        clock.now += 600
        result = await poller.poll(sub, state)
        refreshed.append(len(result.refreshed_entries))
        state = result.state
    assert refreshed == [1, 0, 0]


def test_feed_submissions_carry_refresh(runner):  # noqa: F811  (the feed agents' fixture)
    from workers.feeds.parse import FeedEntry
    from workers.feeds.poller import PollResult

    sub = Subscription.create("https://e.com/feed.xml")
    result = PollResult(subscription=sub, state=FeedState(url=sub.url),
                        new_entries=[FeedEntry("https://e.com/new", "New", w3c(T0))],
                        refreshed_entries=[FeedEntry("https://e.com/old", "Old", w3c(T0), updated=w3c(T0 + 60))])
    values = {orjson.loads(value)["url"]: orjson.loads(value) for _, value in runner._submissions(result)}
    assert "refresh" not in values["https://e.com/new"]
    assert values["https://e.com/old"]["refresh"] is True
    assert values["https://e.com/old"]["metadata"]["updated"] == w3c(T0 + 60)
