"""Subscriptions, feed state and settings of the feeds package."""

from __future__ import annotations

import orjson
import pytest

from workers.errors import InvalidMessage, InvalidURL
from workers.feeds.config import FeedSettings
from workers.feeds.model import (
    FeedState,
    FeedStatus,
    SeenEntries,
    Subscription,
    entry_fingerprint,
    format_interval,
    parse_interval,
)
from workers.settings import Settings


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400), ("1d", 86400),
                                           ("1500ms", 1.5), (" 2 M ", 120)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "-5m", "0.5s", "10y"])
def test_parse_interval_refuses(text):
    with pytest.raises(ValueError):
        parse_interval(text)


def test_format_interval():
    assert [format_interval(s) for s in (600, 7200, 86400, 90, 2.5)] == ["10m", "2h", "1d", "90s", "2.5s"]


def test_subscription_is_keyed_by_the_canonical_url_and_round_trips():
    sub = Subscription.create("HTTPS://News.Example:443/feed.xml?utm_source=x#top", kind="rss", interval_s=60,
                              source="world")
    assert sub.url == "https://news.example/feed.xml"
    assert sub.key == b"https://news.example/feed.xml"
    assert orjson.loads(sub.to_json()) == {"url": sub.url, "kind": "rss", "interval_s": 60.0, "enabled": True,
                                           "source": "world"}
    assert Subscription.from_json(sub.to_json()) == sub


def test_subscription_defaults_and_validation():
    sub = Subscription.from_json(b'{"url": "https://news.example/rss"}', default_interval_s=300)
    assert (sub.kind, sub.interval_s, sub.enabled, sub.source) == ("auto", 300.0, True, None)
    bad = [b'{"url": 5}', b'[]', b'{"url": "https://a.example/", "kind": "json"}',
           b'{"url": "https://a.example/", "interval_s": "often"}', b'{"url": "https://a.example/", "interval_s": 0}',
           b'{"url": "https://a.example/", "enabled": "yes"}', b'not json']
    for raw in bad:
        with pytest.raises(InvalidMessage):
            Subscription.from_json(raw)
    with pytest.raises(InvalidURL):
        Subscription.from_json(b'{"url": "ftp://a.example/feed"}')


def test_seen_entries_are_bounded_and_forget_the_least_recently_listed():
    seen = SeenEntries(limit=3)
    for fp in "abc":
        seen.touch(fp)
    seen.touch("a")  # listed again: now the most recent
    seen.touch("d")
    assert seen.as_list() == ["c", "a", "d"]
    assert "b" not in seen and "a" in seen and len(seen) == 3
    clone = seen.copy()
    clone.touch("e")
    assert "c" in seen and "c" not in clone


def test_state_round_trips_through_json_and_drops_unknown_fields():
    state = FeedState(url="https://news.example/rss", etag='"x"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
                      seen=SeenEntries([entry_fingerprint("https://news.example/a")], limit=10),
                      newest_published="2026-11-25T10:00:00Z", failures=2, backoff_until=5.0, items_seen=7,
                      children={"https://news.example/s.xml": ['"e"', None, "2026-11-25T00:00:00Z"]})
    raw = orjson.loads(state.to_json()) | {"future_field": 1}
    back = FeedState.from_json(orjson.dumps(raw), max_seen=10)
    assert back.to_json() == state.to_json()
    assert entry_fingerprint("https://news.example/a") in back.seen
    status = FeedStatus.from_json(back.status(Subscription.create(state.url, source="lbl")).to_json())
    assert (status.items_seen, status.failures, status.next_poll_at, status.source) == (7, 2, 5.0, "lbl")


def test_state_of_a_few_thousand_entries_stays_small():
    state = FeedState(url="https://news.example/rss", seen=SeenEntries(limit=2000))
    for i in range(5000):
        state.seen.touch(entry_fingerprint(f"https://news.example/story/{i}"))
    assert len(state.seen) == 2000
    assert len(state.to_json()) < 50_000  # far below Kafka's 1 MB message limit


def test_feed_settings_come_from_the_settings_module():
    assert FeedSettings.from_settings(Settings()) == FeedSettings()
    chosen = FeedSettings.from_settings(Settings.from_env({"NEWSWIRE_FEEDS_TOPIC": "t.feeds",
                                                           "NEWSWIRE_FEEDS_MAX_SEEN": "50",
                                                           "NEWSWIRE_FEEDS_TICK_S": "0.5"}))
    assert (chosen.feeds_topic, chosen.feeds_max_seen, chosen.feeds_tick_s) == ("t.feeds", 50, 0.5)
    assert chosen.poll_config(Settings(fetch_max_bytes=10)).max_bytes == 10


def test_public_names_resolve_and_the_cli_stays_light():
    import subprocess
    import sys

    from workers import feeds

    assert all(getattr(feeds, name) for name in feeds.__all__)
    probe = ("import sys, workers.feeds as f; f.add_cli; "
             "print(sorted(m for m in ('feedparser', 'aiohttp', 'lxml', 'faust') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # registering `newswire feeds` costs every command nothing heavy


def test_feed_messages_match_their_schemas():
    from workers.contract.schemas import validate_record

    sub = Subscription.create("https://News.example/rss?utm_source=x", interval_s=60, source="label")
    validate_record("feed", orjson.loads(sub.to_json()))
    validate_record("feed-status", orjson.loads(FeedStatus(url=sub.url, last_status="ok", items_seen=3).to_json()))
