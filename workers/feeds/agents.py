"""Faust wiring of feed polling: subscriptions topic -> table; a timer polls the due feeds.

* ``follow_subscriptions`` (agent) reads the compacted feeds topic into the
  ``feed-subscriptions`` table, keyed by canonical feed URL.  The table is
  partitioned like the topic, so each worker holds the subscriptions of the
  partitions assigned to it; the value remembers its partition.
* ``poll_due_feeds`` (timer, every ``feeds_tick_s``) starts a poll for every
  enabled feed of this worker's *active* partitions that is due; standby
  copies of other workers' partitions are never polled, so a feed is polled by
  one worker per interval and adding workers spreads the feeds.
* A poll's new entries go to the URL topic (``source`` = feed URL, metadata
  ``title`` / ``published`` / ``feed`` / ``label``), its state to the
  ``feed-state`` table (in the partition of the subscription), and a summary
  to the feed status topic for ``newswire feeds list``.

Polls pause while the worker rebalances or recovers its tables, so a new owner
of a partition never polls with a half-recovered state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import TP

from workers.delivery import EventOutbox, Stage
from workers.errors import InvalidMessage, NewswireError
from workers.faust_compat import internals
from workers.pipeline.fetch import FetchConfig
from workers.pipeline.submission import Submission, encode_submission
from workers.settings import Settings

from .config import FeedSettings
from .fetch import FeedFetcher
from .metrics import FEED_METRICS
from .model import FeedState, Subscription
from .poller import FeedPoller, PollResult

if TYPE_CHECKING:
    from workers.worker.app import Worker

__all__ = ["FEED_STATE", "SUBSCRIPTIONS", "FeedRunner", "follow_subscription", "register"]

log = logging.getLogger("newswire.feeds")

RETRY_AFTER_ERROR_S = 30.0
_FOLLOW_IN_FLIGHT = 16

# bytes keys and values: Faust's "raw" codec, our own JSON inside.
# Table names: also the committer's keys for their changelog entries.
SUBSCRIPTIONS = "feed-subscriptions"
FEED_STATE = "feed-state"
#: Roles of a poll's outbox (mapped onto topics by register()).
INPUT, STATUS = "input", "feeds_status"

#: Writes a poll's outbox for a feed partition; False when the partition is no longer this worker's.
PollWrite = Callable[[int, EventOutbox], Awaitable[bool]]


class FeedRunner:
    """This worker's polling: which feeds it owns, which are due, and the tasks polling them."""

    def __init__(self, settings: Settings, feeds: FeedSettings, subscriptions: MutableMapping[bytes, bytes],
                 feed_state: Any, write: PollWrite, active_partitions: Callable[[], set[int]],
                 polling_allowed: Callable[[], bool], clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.feeds = feeds
        self.subscriptions = subscriptions
        self.feed_state = feed_state  # a Faust table (its .data), or a fake with .data in tests
        self.write = write
        self.active_partitions = active_partitions
        self.polling_allowed = polling_allowed
        self._clock = clock
        self._poller: FeedPoller | None = None
        self._in_flight: dict[bytes, asyncio.Task[None]] = {}
        self._subs: dict[bytes, tuple[bytes, int, Subscription]] = {}  # key -> (raw, partition, decoded)
        self._states: dict[bytes, tuple[bytes | None, FeedState]] = {}  # key -> (raw or None if never polled)

    @property
    def poller(self) -> FeedPoller:
        if self._poller is None:
            fetcher = FeedFetcher(FetchConfig.from_settings(self.settings))
            self._poller = FeedPoller(fetcher, self.feeds.poll_config(self.settings))
        return self._poller

    # -- decoding, cached: the timer looks at every owned feed every tick -------

    def subscription(self, key: bytes, raw: bytes) -> tuple[int, Subscription] | None:
        cached = self._subs.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1], cached[2]
        try:
            wrapper = orjson.loads(raw)
            sub = Subscription.from_json(orjson.dumps(wrapper["subscription"]),
                                         default_interval_s=self.feeds.feeds_default_interval_s)
            partition = int(wrapper["partition"])
        except (NewswireError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            return None
        self._subs[key] = (raw, partition, sub)
        return partition, sub

    def state(self, key: bytes, sub: Subscription) -> FeedState:
        raw = self.feed_state.data.get(key)
        cached = self._states.get(key)
        if cached is not None and (cached[0] is raw or (raw is None and cached[0] is None)):
            return cached[1]
        if raw is None:
            state = self.poller.new_state(sub)
        else:
            try:
                state = FeedState.from_json(raw, max_seen=self.feeds.feeds_max_seen)
            except (NewswireError, TypeError, ValueError):
                log.warning("unreadable feed state; starting afresh", extra={"stage": "feed"})
                state = self.poller.new_state(sub)
        self._states[key] = (raw, state)
        return state

    def forget(self, key: bytes) -> None:
        self._subs.pop(key, None)
        self._states.pop(key, None)
        task = self._in_flight.pop(key, None)
        if task is not None:
            task.cancel()

    # -- the timer's work ------------------------------------------------------------

    def start_due_polls(self, now: float) -> int:
        """Start polls for the due feeds of this worker's active partitions, most overdue first."""
        active = self.active_partitions()
        owned = backing_off = 0
        due: list[tuple[float, bytes, int, Subscription, FeedState]] = []
        for key, raw in list(self.subscriptions.items()):
            decoded = self.subscription(key, raw)
            if decoded is None:
                continue
            partition, sub = decoded
            if partition not in active or not sub.enabled:
                continue
            owned += 1
            state = self.state(key, sub)
            backing_off += state.failures > 0
            due_at = self.poller.due_at(sub, state)
            if due_at <= now and key not in self._in_flight:
                due.append((due_at, key, partition, sub, state))
        free = max(0, self.feeds.feeds_max_concurrent_polls - len(self._in_flight))
        due.sort(key=lambda item: item[0])
        for _, key, partition, sub, state in due[:free]:
            self._in_flight[key] = asyncio.ensure_future(self._poll(key, partition, sub, state))
        FEED_METRICS.feeds_owned.set(owned)
        FEED_METRICS.feeds_backing_off.set(backing_off)
        FEED_METRICS.polls_in_flight.set(len(self._in_flight))
        return min(free, len(due))

    async def _poll(self, key: bytes, partition: int, sub: Subscription, state: FeedState) -> None:
        task = asyncio.current_task()
        try:
            started = time.monotonic()
            result = await self.poller.poll(sub, state)
            FEED_METRICS.poll_seconds.observe(time.monotonic() - started)
            if (self.subscriptions.get(key) is None or partition not in self.active_partitions()
                    or not self.polling_allowed()):
                # Removed, or handed to another worker meanwhile: its new owner polls it
                # with the stored state; submitting here could submit entries twice.
                return
            raw = result.state.to_json()
            out = EventOutbox()
            for url, value in self._submissions(result):
                await out.publish(INPUT, url, value, {})
            out.remember(FEED_STATE, key, raw)
            await out.publish(STATUS, key, result.state.status(sub).to_json(), {}, partition=partition)
            # Submissions, state and status are written together (one transaction in
            # exactly_once mode); only then does the state say the entries were submitted.
            if not await self.write(partition, out):
                return  # the partition was revoked meanwhile: its new owner polls the feed
            self._states[key] = (raw, result.state)
            FEED_METRICS.observe_poll(result)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one feed's poll kill the timer or the worker
            log.exception("feed poll task failed", extra={"stage": "feed"})
            # Nothing was recorded (e.g. Kafka is down): poll again later, not at every tick.
            now = self._clock()
            retry_at = now + min(sub.interval_s, RETRY_AFTER_ERROR_S)
            self._states[key] = (self.feed_state.data.get(key), dataclasses.replace(
                state, last_poll_at=now, next_poll_at=retry_at, backoff_until=max(state.backoff_until, retry_at)))
        finally:
            if self._in_flight.get(key) is task:
                del self._in_flight[key]

    def _submissions(self, result: PollResult) -> list[tuple[bytes, bytes]]:
        sub = result.subscription
        now = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        now = now.replace("+00:00", "Z")
        records: list[tuple[bytes, bytes]] = []
        for entry, refresh in [(e, False) for e in result.new_entries] + [(e, True) for e in result.refreshed_entries]:
            metadata = {"title": entry.title, "published": entry.published, "feed": sub.url}
            if refresh:
                metadata["updated"] = entry.updated
            if sub.source:
                metadata["label"] = sub.source
            value = encode_submission(Submission(url=entry.url, source=sub.url, submitted_at=now, refresh=refresh,
                                                 metadata={k: v for k, v in metadata.items() if v is not None}))
            records.append((entry.url.encode(), value))
        return records

    async def close(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        self._in_flight.clear()
        if self._poller is not None:
            await self._poller.fetcher.close()


async def follow_subscription(event: Any, out: EventOutbox, *, runner: FeedRunner) -> None:
    """One subscription message: its table changes (committed with the message by the delivery layer)."""
    key, value, partition = event.message.key, event.message.value, event.message.partition
    if not key:
        log.warning("feed subscription without a key ignored", extra={"stage": "feed"})
        return
    if value is None:  # tombstone: the feed was removed
        out.remember(FEED_STATE, key, None)
        out.remember(SUBSCRIPTIONS, key, None)
        await out.publish(STATUS, key, None, {}, partition=partition)
        runner.forget(key)
        return
    try:
        sub = Subscription.from_json(value, default_interval_s=runner.feeds.feeds_default_interval_s)
    except (NewswireError, InvalidMessage) as exc:
        log.warning("invalid feed subscription ignored: %s", exc, extra={"stage": "feed"})
        return
    out.remember(SUBSCRIPTIONS, key, orjson.dumps({"partition": partition,
                                                   "subscription": orjson.loads(sub.to_json())}))


def register(worker: Worker) -> FeedRunner:
    """Declare the feed topics, tables, the subscriptions agent and the polling timer on the worker's app."""
    settings, app = worker.settings, worker.app
    feeds = FeedSettings.from_settings(settings)

    def raw_topic(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=settings.topic_partitions)

    feeds_topic, status_topic = raw_topic(feeds.feeds_topic), raw_topic(feeds.feeds_status_topic)
    subscriptions = app.Table(SUBSCRIPTIONS, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions,
                              help="feed URL -> subscription and its partition")
    feed_state = app.Table(FEED_STATE, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions,
                           help="feed URL -> FeedState (validators, seen entries, schedule)")
    tables = {SUBSCRIPTIONS: subscriptions, FEED_STATE: feed_state}
    # A poll's outbox: submissions to the URL topic, its status, its feed-state entry.
    polls = worker.delivery.committer({INPUT: worker.topics.input, STATUS: status_topic}, {FEED_STATE: feed_state})

    def polling_allowed() -> bool:
        """False while partitions move or tables recover: the state may be incomplete."""
        return not (app.rebalancing or app.in_recovery or not internals.tables_recovered(app))

    async def write(partition: int, out: EventOutbox) -> bool:
        # The poll's unit goes out on the feed partition's transactional producer in exactly_once.
        return await worker.delivery.write_unit(polls, out, source=TP(feeds.feeds_topic, partition))

    runner = FeedRunner(settings, feeds, subscriptions, feed_state, write,
                        active_partitions=lambda: internals.active_partitions(app, feeds.feeds_topic),
                        polling_allowed=polling_allowed)

    @worker.delivery.agent(feeds_topic, outputs={STATUS: status_topic}, tables=tables,
                           name="newswire.follow_subscriptions")
    async def follow_subscriptions() -> Stage:
        """Subscriptions topic -> ``feed-subscriptions`` table, delivered like the article agents' messages."""
        async def step(event: Any, out: EventOutbox) -> None:
            await follow_subscription(event, out, runner=runner)

        return Stage("feeds", _FOLLOW_IN_FLIGHT, step)

    @app.timer(interval=feeds.feeds_tick_s, name="newswire.feeds.poll_due_feeds")
    async def poll_due_feeds() -> None:
        if polling_allowed():
            runner.start_due_polls(runner._clock())

    # mode calls a receiver as receiver(sender, *args, signal=signal, **kwargs)
    @app.on_before_shutdown.connect
    def stop_polling(app_: object, /, *args: object, **kwargs: object) -> None:
        for task in list(runner._in_flight.values()):
            task.cancel()
        asyncio.ensure_future(runner.close())  # the fetcher's session

    return runner
