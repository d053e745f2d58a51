"""The worker's feed runner without a broker: ownership, due order, submissions, failure handling.

The runner gets dicts for its tables and a recording writer in place of the
delivery layer; the poller is a fake that returns prepared results.  What
crosses Kafka is tested in tests/integration/feeds/test_feeds.py.
"""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from workers.contract.schemas import validate_record
from workers.feeds import agents
from workers.feeds.config import FeedSettings
from workers.feeds.model import FeedState, Subscription
from workers.feeds.parse import FeedEntry
from workers.feeds.poller import FeedPoller, PollConfig, PollResult
from workers.pipeline.submission import decode_submission
from workers.settings import Settings

pytestmark = pytest.mark.timeout(20)

NOW = 1_800_000_000.0
SETTINGS = Settings()
FEEDS = dataclasses.replace(FeedSettings.from_settings(SETTINGS), feeds_max_concurrent_polls=2)


class FakeWriter:
    """Stands in for the delivery layer's write_unit: records (partition, topic, key, value, part), applies state.

    ``fail`` makes the broker unreachable, ``revoked`` the partition gone.
    """

    def __init__(self, feed_state) -> None:
        self.records: list[tuple] = []
        self.feed_state = feed_state
        self.fail = False
        self.revoked = False

    async def write(self, partition: int, out) -> bool:
        if self.fail:
            raise RuntimeError("broker down")
        if self.revoked:
            return False
        topics = {agents.INPUT: SETTINGS.input_topic, agents.STATUS: FEEDS.feeds_status_topic}
        for role, key, value, _headers, part in out.messages:
            self.records.append((partition, topics[role], key, value, part))
        for table, key, value in out.state:
            assert table == agents.FEED_STATE
            self.records.append((partition, "state-changelog", key, value, partition))
            self.feed_state.data[key] = value
        return True

    def to(self, topic: str) -> list[tuple]:
        return [(partition, key, value, part) for partition, t, key, value, part in self.records if t == topic]


class FakeTable:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = type("Changelog", (), {"get_topic_name": staticmethod(lambda: "state-changelog")})()


class FakePoller(FeedPoller):
    def __init__(self) -> None:
        super().__init__(fetcher=None, config=PollConfig(), clock=lambda: NOW)  # type: ignore[arg-type]
        self.polled: list[str] = []
        self.entries: dict[str, list[FeedEntry]] = {}
        self.release = asyncio.Event()
        self.release.set()

    async def poll(self, subscription: Subscription, state: FeedState | None = None) -> PollResult:
        self.polled.append(subscription.url)
        await self.release.wait()
        new_state = dataclasses.replace(state or self.new_state(subscription), last_poll_at=NOW,
                                        next_poll_at=NOW + subscription.interval_s, polls=1)
        return PollResult(subscription=subscription, state=new_state,
                          new_entries=self.entries.get(subscription.url, []))


_subscriptions: dict[bytes, bytes] = {}


@pytest.fixture
def runner():
    _subscriptions.clear()
    feed_state = FakeTable()
    writer = FakeWriter(feed_state)
    runner = agents.FeedRunner(SETTINGS, FEEDS, _subscriptions, feed_state, writer.write,
                               active_partitions=lambda: {0, 2}, polling_allowed=lambda: True,
                               clock=lambda: NOW + 60)
    runner._poller = FakePoller()
    runner.writer = writer  # type: ignore[attr-defined]  (for the assertions)
    return runner


def subscribe(url: str, partition: int, **kwargs) -> Subscription:
    sub = Subscription.create(url, **kwargs)
    _subscriptions[sub.key] = orjson.dumps({"partition": partition, "subscription": orjson.loads(sub.to_json())})
    return sub


async def settle(runner: agents.FeedRunner) -> None:
    while runner._in_flight:
        await asyncio.sleep(0.01)


async def test_only_enabled_feeds_of_active_partitions_are_polled_most_overdue_first(runner):
    subscribe("https://a.example/rss", 0)
    subscribe("https://b.example/rss", 1)  # another worker's partition (standby copy here)
    subscribe("https://c.example/rss", 2, enabled=False)
    late = subscribe("https://d.example/rss", 2)
    early = subscribe("https://e.example/rss", 0)
    runner.feed_state.data[late.key] = FeedState(url=late.url, next_poll_at=NOW - 100).to_json()
    runner.feed_state.data[early.key] = FeedState(url=early.url, next_poll_at=NOW - 50).to_json()
    runner.feed_state.data[Subscription.create("https://a.example/rss").key] = \
        FeedState(url="https://a.example/rss", next_poll_at=NOW + 100).to_json()  # not due yet

    started = runner.start_due_polls(NOW)
    await settle(runner)
    assert started == 2
    assert runner.poller.polled == ["https://d.example/rss", "https://e.example/rss"]
    assert agents.FEED_METRICS.feeds_owned._value.get() == 3


async def test_new_entries_are_submitted_with_the_feed_as_source_then_state_and_status_stored(runner):
    sub = subscribe("https://news.example/rss", 0, source="world")
    runner.poller.entries[sub.url] = [FeedEntry("https://news.example/a", "A", "2026-11-25T10:00:00Z"),
                                      FeedEntry("https://news.example/b", None, None)]
    runner.start_due_polls(NOW + 60)
    await settle(runner)
    sent = runner.writer.to(SETTINGS.input_topic)
    assert [(key, part) for _, key, _, part in sent] == [(b"https://news.example/a", None),
                                                       (b"https://news.example/b", None)]
    first = decode_submission(sent[0][2])
    assert first.source == sub.url
    assert first.metadata == {"title": "A", "published": "2026-11-25T10:00:00Z", "feed": sub.url, "label": "world"}
    assert decode_submission(sent[1][2]).metadata == {"feed": sub.url, "label": "world"}
    for _, _, value, _ in sent:  # the message contract of the URL topic
        validate_record("submission", value)
    (state,) = runner.writer.to("state-changelog")
    assert state[0] == 0 and state[1] == sub.key and state[3] == 0  # the subscription's partition
    assert FeedState.from_json(runner.feed_state.data[sub.key]).polls == 1
    (status,) = runner.writer.to(FEEDS.feeds_status_topic)
    assert status[1] == sub.key and status[3] == 0 and orjson.loads(status[2])["source"] == "world"
    assert runner.start_due_polls(NOW + 61) == 0  # polled: not due again before its interval


async def test_a_feed_removed_during_its_poll_submits_nothing(runner):
    sub = subscribe("https://news.example/rss", 0)
    runner.poller.entries[sub.url] = [FeedEntry("https://news.example/a")]
    runner.poller.release.clear()
    runner.start_due_polls(NOW + 60)
    await asyncio.sleep(0.01)
    del _subscriptions[sub.key]
    runner.poller.release.set()
    await settle(runner)
    assert runner.writer.records == [] and runner.feed_state.data == {}


async def test_a_failed_submission_is_retried_later_not_at_every_tick(runner, monkeypatch):
    sub = subscribe("https://news.example/rss", 0, interval_s=600)
    runner.poller.entries[sub.url] = [FeedEntry("https://news.example/a")]
    runner.writer.fail = True
    runner.start_due_polls(NOW + 60)
    await settle(runner)
    assert runner.feed_state.data == {}  # nothing recorded: the entries are still new
    assert runner.start_due_polls(NOW + 61) == 0
    assert runner.poller.polled == [sub.url]


async def test_a_poll_finished_after_its_partition_was_revoked_records_nothing(runner):
    sub = subscribe("https://news.example/rss", 0)
    runner.writer.revoked = True
    runner.start_due_polls(NOW + 60)
    await settle(runner)
    assert runner.feed_state.data == {}
    assert sub.key not in runner._states or runner._states[sub.key][1].polls == 0


# -- following the subscriptions topic: table changes go through the message's outbox ----------


class RecordingOutbox:
    def __init__(self) -> None:
        self.published: list[tuple] = []
        self.state: list[tuple] = []

    async def publish(self, role, key, value, headers, partition=None) -> None:
        self.published.append((role, key, value, partition))

    def remember(self, table, key, value) -> None:
        self.state.append((table, key, value))


def subscription_event(key: bytes | None, value: bytes | None, partition: int = 2):
    message = type("Message", (), {"key": key, "value": value, "partition": partition})()
    return type("Event", (), {"message": message})()


async def test_a_subscription_is_remembered_with_its_partition(runner):
    sub = Subscription.from_json(orjson.dumps({"url": "https://example.com/feed.xml", "every": 60}))
    out = RecordingOutbox()
    await agents.follow_subscription(subscription_event(sub.url.encode(), sub.to_json()), out, runner=runner)
    assert out.published == []
    [(table, key, value)] = out.state
    assert (table, key) == (agents.SUBSCRIPTIONS, sub.url.encode())
    assert orjson.loads(value)["partition"] == 2
    assert orjson.loads(value)["subscription"]["url"] == sub.url


async def test_a_tombstone_removes_subscription_state_and_status(runner):
    key = b"https://example.com/feed.xml"
    out = RecordingOutbox()
    await agents.follow_subscription(subscription_event(key, None, partition=1), out, runner=runner)
    assert out.state == [(agents.FEED_STATE, key, None), (agents.SUBSCRIPTIONS, key, None)]
    assert out.published == [("feeds_status", key, None, 1)]


async def test_unusable_subscriptions_change_nothing(runner):
    for event in (subscription_event(None, b"{}"), subscription_event(b"k", b"not json")):
        out = RecordingOutbox()
        await agents.follow_subscription(event, out, runner=runner)
        assert out.state == [] and out.published == []
